package ipam

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// labelSelector is a matchLabels-only Selector for tests.
type labelSelector map[string]string

func (s labelSelector) Matches(l Labels) bool {
	for k, v := range s {
		if l[k] != v {
			return false
		}
	}
	return true
}

func pool(name string, ranges ...string) Pool {
	p := Pool{Name: name, AutoAssign: true}
	for _, r := range ranges {
		p.Ranges = append(p.Ranges, mustRange(r))
	}
	return p
}

func svc(key string, opts ...func(*Service)) Service {
	ns, _, _ := strings.Cut(key, "/")
	s := Service{Key: key, Namespace: ns, Ports: []Port{{"TCP", 80}}}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func pinned(ips ...string) func(*Service) {
	return func(s *Service) {
		for _, ip := range ips {
			s.RequestedIPs = append(s.RequestedIPs, netip.MustParseAddr(ip))
		}
	}
}

func inPool(p string) func(*Service) { return func(s *Service) { s.RequestedPool = p } }
func sharing(key string, ports ...int32) func(*Service) {
	return func(s *Service) {
		s.SharingKey = key
		s.Ports = nil
		for _, p := range ports {
			s.Ports = append(s.Ports, Port{"TCP", p})
		}
	}
}
func stack(st Stack, fams ...Family) func(*Service) {
	return func(s *Service) { s.Stack, s.Families = st, fams }
}
func labels(l Labels) func(*Service) { return func(s *Service) { s.Labels = l } }

// step is one operation of a scenario and what it must produce.
type step struct {
	svc     Service
	release bool
	wantIPs string // comma-separated
	wantErr error
	errHas  string
}

func runSteps(t *testing.T, a *Allocator, steps []step) {
	t.Helper()
	for i, st := range steps {
		if st.release {
			a.Release(st.svc.Key)
			continue
		}
		asg, err := a.Allocate(st.svc)
		if st.wantErr != nil || st.errHas != "" {
			if err == nil {
				t.Fatalf("step %d (%s): got %v, want error %v %q", i, st.svc.Key, asg.IPs, st.wantErr, st.errHas)
			}
			if st.wantErr != nil && !errors.Is(err, st.wantErr) {
				t.Errorf("step %d (%s): error %v, want %v", i, st.svc.Key, err, st.wantErr)
			}
			if !strings.Contains(err.Error(), st.errHas) {
				t.Errorf("step %d (%s): error %q lacks %q", i, st.svc.Key, err, st.errHas)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, st.svc.Key, err)
		}
		if got := ipList(asg.IPs); got != st.wantIPs {
			t.Errorf("step %d (%s): IPs %s, want %s", i, st.svc.Key, got, st.wantIPs)
		}
		checkInvariants(t, a)
	}
}

func ipList(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ",")
}

// checkInvariants: no IP is held by two Services that may not share it, and
// every held pool IP is out of its pool's free set.
func checkInvariants(t *testing.T, a *Allocator) {
	t.Helper()
	for ip, h := range a.ips {
		for i, x := range h.svcs {
			for _, y := range h.svcs[i+1:] {
				if why := x.canShareWith(y); why != "" {
					t.Fatalf("%s held by %s and %s: %s", ip, x.Key, y.Key, why)
				}
			}
		}
		if h.pool != nil && h.pool.free[familyIndex(FamilyOf(ip))].contains(ip) {
			t.Fatalf("%s is held and free in pool %s", ip, h.pool.Name)
		}
		for _, x := range h.svcs {
			if _, ok := a.sharing[x.SharingKey][ip]; x.SharingKey != "" && !ok {
				t.Fatalf("%s held by %s with key %q is missing from the sharing index", ip, x.Key, x.SharingKey)
			}
		}
	}
	for key, ips := range a.sharing {
		for ip := range ips {
			if _, ok := a.ips[ip]; !ok {
				t.Fatalf("sharing index %q lists %s, which nobody holds", key, ip)
			}
		}
	}
}

func TestAllocate(t *testing.T) {
	seedPool := pool("my-ippool", "172.20.255.200-172.20.255.250")
	tests := []struct {
		name  string
		pools []Pool
		steps []step
	}{
		{"seed walkthrough: svc1..3 in creation order", []Pool{seedPool}, []step{
			{svc: svc("default/svc1"), wantIPs: "172.20.255.200"},
			{svc: svc("default/svc2"), wantIPs: "172.20.255.201"},
			{svc: svc("default/svc3"), wantIPs: "172.20.255.202"},
			{svc: svc("default/svc1"), wantIPs: "172.20.255.200"}, // stable
		}},
		{"a released IP is reused lowest first", []Pool{seedPool}, []step{
			{svc: svc("default/svc1"), wantIPs: "172.20.255.200"},
			{svc: svc("default/svc2"), wantIPs: "172.20.255.201"},
			{svc: svc("default/svc1"), release: true},
			{svc: svc("default/svc4"), wantIPs: "172.20.255.200"},
		}},
		{"exhaustion names the pool", []Pool{pool("small", "10.0.0.1-10.0.0.2")}, []step{
			{svc: svc("a/x"), wantIPs: "10.0.0.1"},
			{svc: svc("a/y"), wantIPs: "10.0.0.2"},
			{svc: svc("a/z"), wantErr: ErrExhausted, errHas: `no available IPs in pool "small"`},
		}},
		{"pinned IP, then the same IP wanted by another Service", []Pool{seedPool}, []step{
			{svc: svc("default/a", pinned("172.20.255.210")), wantIPs: "172.20.255.210"},
			{svc: svc("default/b", pinned("172.20.255.210")), wantErr: ErrInUse, errHas: "held by default/a"},
			{svc: svc("default/c"), wantIPs: "172.20.255.200"},
		}},
		{"pinned IP outside every pool", []Pool{seedPool}, []step{
			{svc: svc("default/a", pinned("192.0.2.1")), wantErr: ErrNotInPool, errHas: "192.0.2.1 is not in any pool"},
		}},
		{"pool annotation and autoAssign", []Pool{pool("a", "10.0.0.0/30"), func() Pool { p := pool("manual", "10.9.0.0/30"); p.AutoAssign = false; return p }()}, []step{
			{svc: svc("ns/auto"), wantIPs: "10.0.0.0"},
			{svc: svc("ns/manual", inPool("manual")), wantIPs: "10.9.0.0"},
			{svc: svc("ns/ghost", inPool("nope")), wantErr: ErrUnknownPool, errHas: `"nope"`},
			{svc: svc("ns/wrong", inPool("a"), pinned("10.9.0.1")), wantErr: ErrNotAllowed, errHas: `not in the requested pool "a"`},
		}},
		{"priority: lowest first, pools without one last, then by name", []Pool{
			pool("none", "10.0.0.0/30"),
			func() Pool { p := pool("ten", "10.1.0.0/30"); p.Priority = 10; return p }(),
			func() Pool { p := pool("five", "10.2.0.0/31"); p.Priority = 5; return p }(),
		}, []step{
			{svc: svc("ns/a"), wantIPs: "10.2.0.0"},
			{svc: svc("ns/b"), wantIPs: "10.2.0.1"},
			{svc: svc("ns/c"), wantIPs: "10.1.0.0"},
		}},
		{"namespace and service selectors", []Pool{
			func() Pool {
				p := pool("team-a", "10.1.0.0/30")
				p.Priority = 1
				p.Namespaces = []string{"team-a"}
				return p
			}(),
			func() Pool {
				p := pool("web", "10.2.0.0/30")
				p.Priority = 2
				p.ServiceSelectors = []Selector{labelSelector{"exposure": "web"}}
				return p
			}(),
			pool("rest", "10.3.0.0/30"),
		}, []step{
			{svc: svc("team-a/x"), wantIPs: "10.1.0.0"},
			{svc: svc("default/y", labels(Labels{"exposure": "web"})), wantIPs: "10.2.0.0"},
			{svc: svc("default/z"), wantIPs: "10.3.0.0"},
			{svc: svc("default/w", inPool("team-a")), wantErr: ErrNotAllowed, errHas: `does not serve namespace "default"`},
		}},
		{"sharing: same key, distinct ports share; colliding ports do not", []Pool{seedPool}, []step{
			{svc: svc("default/dns-tcp", sharing("dns", 53)), wantIPs: "172.20.255.200"},
			{svc: svc("default/dns-udp", sharing("dns", 54)), wantIPs: "172.20.255.200"},
			{svc: svc("default/dns-dup", sharing("dns", 53)), wantIPs: "172.20.255.201"},
			{svc: svc("default/other", sharing("other", 99)), wantIPs: "172.20.255.202"},
			{svc: svc("default/pin-clash", sharing("dns", 54), pinned("172.20.255.200")), wantErr: ErrInUse, errHas: "both use port 54/TCP"},
			{svc: svc("default/no-key", pinned("172.20.255.200")), wantErr: ErrInUse, errHas: "does not allow sharing"},
		}},
		{"sharing with externalTrafficPolicy Local needs the same backends", []Pool{seedPool}, []step{
			{svc: svc("default/a", sharing("k", 80), func(s *Service) { s.BackendKey = "app=web" }), wantIPs: "172.20.255.200"},
			{svc: svc("default/b", sharing("k", 81), func(s *Service) { s.BackendKey = "app=db" }), wantIPs: "172.20.255.201"},
			{svc: svc("default/c", sharing("k", 82), func(s *Service) { s.BackendKey = "app=web" }), wantIPs: "172.20.255.200"},
		}},
		{"dual-stack", []Pool{pool("v4", "10.0.0.0/30"), func() Pool { p := pool("dual", "10.5.0.0/30", "fd00::/126"); p.Priority = 0; return p }()}, []step{
			{svc: svc("ns/req", stack(RequireDualStack, IPv6, IPv4)), wantIPs: "fd00::,10.5.0.0"},
			{svc: svc("ns/pref", stack(PreferDualStack, IPv4, IPv6), inPool("v4")), wantIPs: "10.0.0.0"},
			{svc: svc("ns/req-v4only", stack(RequireDualStack, IPv4, IPv6), inPool("v4")), wantErr: ErrFamily, errHas: `pool "v4" has no IPv6 addresses`},
			{svc: svc("ns/v6", stack(SingleStack, IPv6)), wantIPs: "fd00::1"},
			{svc: svc("ns/pin-wrong-family", stack(SingleStack, IPv4), pinned("fd00::2")), wantErr: ErrFamily},
		}},
		{"avoidBuggyIPs skips .0 and .255", []Pool{func() Pool { p := pool("b", "10.0.0.254-10.0.1.1"); p.AvoidBuggyIPs = true; return p }()}, []step{
			{svc: svc("ns/a"), wantIPs: "10.0.0.254"},
			{svc: svc("ns/b"), wantIPs: "10.0.1.1"},
			{svc: svc("ns/c"), wantErr: ErrExhausted},
			{svc: svc("ns/d", pinned("10.0.1.0")), wantErr: ErrNotAllowed, errHas: "avoids"},
		}},
		{"a changed request that cannot be met keeps the old IP", []Pool{seedPool}, []step{
			{svc: svc("default/a"), wantIPs: "172.20.255.200"},
			{svc: svc("default/b"), wantIPs: "172.20.255.201"},
			{svc: svc("default/a", pinned("172.20.255.201")), wantErr: ErrInUse},
			{svc: svc("default/c"), wantIPs: "172.20.255.202"},
			{svc: svc("default/a"), wantIPs: "172.20.255.200"},
			{svc: svc("default/a", pinned("172.20.255.220")), wantIPs: "172.20.255.220"},
			{svc: svc("default/d"), wantIPs: "172.20.255.200"},
		}},
		{"no pool at all", nil, []step{
			{svc: svc("default/a"), wantErr: ErrNoPool, errHas: "no IPAddressPool exists"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New()
			a.SetPools(tt.pools)
			runSteps(t, a, tt.steps)
		})
	}
}

func TestStatsCountSharedIPsOnce(t *testing.T) {
	p := pool("p", "10.0.0.0/24", "fd00::/64")
	p.AvoidBuggyIPs = true
	a := New()
	a.SetPools([]Pool{p})
	runSteps(t, a, []step{
		{svc: svc("ns/a", sharing("k", 1)), wantIPs: "10.0.0.1"},
		{svc: svc("ns/b", sharing("k", 2)), wantIPs: "10.0.0.1"},
		{svc: svc("ns/c", stack(SingleStack, IPv6)), wantIPs: "fd00::"},
	})
	st, ok := a.Stats("p")
	if !ok {
		t.Fatal("no stats")
	}
	if st.InUse[IPv4] != 1 || st.Total[IPv4] != 254 || st.Available[IPv4] != 253 {
		t.Errorf("IPv4 stats %+v, want 1 in use of 254, 253 available", st)
	}
	if st.InUse[IPv6] != 1 || st.Available[IPv6] != 1<<63-1 {
		t.Errorf("IPv6 stats %+v, want 1 in use and a saturated count", st)
	}
	if st.Services != 3 {
		t.Errorf("services = %d, want 3 (two sharing one IP count twice)", st.Services)
	}
}

// TestShrinkingPoolKeepsServices: an IP that leaves every pool stays with its
// Service (reported as orphan) and is never handed to another.
func TestShrinkingPoolKeepsServices(t *testing.T) {
	a := New()
	a.SetPools([]Pool{pool("p", "10.0.0.0-10.0.0.3")})
	runSteps(t, a, []step{
		{svc: svc("ns/a"), wantIPs: "10.0.0.0"},
		{svc: svc("ns/b"), wantIPs: "10.0.0.1"},
	})
	a.SetPools([]Pool{pool("p", "10.0.0.1-10.0.0.3")})
	if got := a.Orphans(); !slices.Equal(got, []string{"ns/a"}) {
		t.Errorf("orphans = %v, want [ns/a]", got)
	}
	runSteps(t, a, []step{
		{svc: svc("ns/a"), wantIPs: "10.0.0.0"},
		{svc: svc("ns/c"), wantIPs: "10.0.0.2"},
	})
	a.SetPools([]Pool{pool("p", "10.0.0.0-10.0.0.3")})
	if got := a.Orphans(); len(got) != 0 {
		t.Errorf("orphans after the pool grew back = %v", got)
	}
	runSteps(t, a, []step{{svc: svc("ns/d"), wantIPs: "10.0.0.3"}})
	if st, _ := a.Stats("p"); st.InUse[IPv4] != 4 || st.Services != 4 {
		t.Errorf("in use = %d, services %d, want 4 and 4", st.InUse[IPv4], st.Services)
	}
}

func TestRestoreKeepsFirstHolder(t *testing.T) {
	a := New()
	a.SetPools([]Pool{pool("p", "10.0.0.0/29")})
	ip := []netip.Addr{netip.MustParseAddr("10.0.0.3")}
	if err := a.Restore(svc("ns/a"), ip); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(svc("ns/b"), ip); !errors.Is(err, ErrInUse) {
		t.Errorf("second restore of the same IP: %v, want ErrInUse", err)
	}
	if err := a.Restore(svc("ns/out"), []netip.Addr{netip.MustParseAddr("192.0.2.7")}); err != nil {
		t.Errorf("restoring an IP outside every pool: %v", err)
	}
	runSteps(t, a, []step{
		{svc: svc("ns/a"), wantIPs: "10.0.0.3"},
		{svc: svc("ns/b"), wantIPs: "10.0.0.0"},
		{svc: svc("ns/out"), wantIPs: "192.0.2.7"},
	})
}

// TestAnyOrderNeverDuplicates replays random creations, changes and
// deletions in many orders and checks after each step that no IP is held by
// two Services that may not share it, and that counters match.
func TestAnyOrderNeverDuplicates(t *testing.T) {
	pools := []Pool{pool("a", "10.0.0.0/28"), pool("b", "10.1.0.0/29", "fd00::/125")}
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		a := New()
		a.SetPools(pools)
		for op := 0; op < 200; op++ {
			key := fmt.Sprintf("ns/s%d", r.IntN(30))
			switch r.IntN(5) {
			case 0:
				a.Release(key)
			case 1:
				s := svc(key, pinned(fmt.Sprintf("10.0.0.%d", r.IntN(16))))
				_, _ = a.Allocate(s)
			case 2:
				s := svc(key, sharing(fmt.Sprintf("k%d", r.IntN(2)), int32(r.IntN(3))))
				_, _ = a.Allocate(s)
			case 3:
				_, _ = a.Allocate(svc(key, stack(PreferDualStack, IPv6, IPv4)))
			default:
				_, _ = a.Allocate(svc(key))
			}
			checkInvariants(t, a)
		}
		used := map[string]int64{}
		for ip, h := range a.ips {
			if h.pool != nil {
				used[h.pool.Name+FamilyOf(ip).String()]++
			}
		}
		services := map[string]int64{}
		for _, asg := range a.services {
			services[asg.Pool]++
		}
		for _, p := range pools {
			st, _ := a.Stats(p.Name)
			if st.Services != services[p.Name] {
				t.Fatalf("seed %d: pool %s services = %d, counted %d", seed, p.Name, st.Services, services[p.Name])
			}
			for _, f := range []Family{IPv4, IPv6} {
				if st.InUse[f] != used[p.Name+f.String()] {
					t.Fatalf("seed %d: pool %s %s in use = %d, counted %d", seed, p.Name, f, st.InUse[f], used[p.Name+f.String()])
				}
			}
		}
	}
}

// TestPreferDualStackGainsSecondFamily: a PreferDualStack Service that got
// one IP because its pool had one family gets the other family's IP from
// the same pool once the pool has such addresses; nothing else changes.
func TestPreferDualStackGainsSecondFamily(t *testing.T) {
	a := New()
	a.SetPools([]Pool{pool("p", "10.0.0.0/30")})
	pref := svc("ns/pref", stack(PreferDualStack, IPv4, IPv6))
	single := svc("ns/single", stack(SingleStack, IPv4))
	for _, s := range []Service{pref, single} {
		if _, err := a.Allocate(s); err != nil {
			t.Fatal(err)
		}
	}
	if ip, err := a.AddFamily("ns/pref"); ip.IsValid() || err != nil {
		t.Fatalf("AddFamily with no IPv6 in the pool = %v, %v; want nothing", ip, err)
	}

	a.SetPools([]Pool{pool("p", "10.0.0.0/30", "fd00::/127")})
	if got := a.OneFamilyOfTwo(); !slices.Equal(got, []string{"ns/pref"}) {
		t.Errorf("OneFamilyOfTwo = %v, want [ns/pref]", got)
	}
	ip, err := a.AddFamily("ns/pref")
	if err != nil || ip != netip.MustParseAddr("fd00::") {
		t.Fatalf("AddFamily = %v, %v; want fd00::", ip, err)
	}
	asg, _ := a.Assignment("ns/pref")
	if got := fmt.Sprint(asg.IPs); got != "[10.0.0.0 fd00::]" || asg.Pool != "p" {
		t.Errorf("assignment %s from %q, want [10.0.0.0 fd00::] from p", got, asg.Pool)
	}
	if got := a.OneFamilyOfTwo(); len(got) != 0 {
		t.Errorf("OneFamilyOfTwo after the second family = %v, want none", got)
	}
	if again, err := a.AddFamily("ns/pref"); again.IsValid() || err != nil {
		t.Errorf("a second AddFamily = %v, %v; want nothing", again, err)
	}
	if ip, _ := a.AddFamily("ns/single"); ip.IsValid() {
		t.Errorf("a SingleStack Service gained %v", ip)
	}
	if st, _ := a.Stats("p"); st.InUse[IPv6] != 1 {
		t.Errorf("pool stats %+v, want one IPv6 address in use", st)
	}

	// A second PreferDualStack Service finds the IPv6 range exhausted: it
	// keeps its IPv4 address and learns why.
	other := svc("ns/other", stack(PreferDualStack, IPv4, IPv6))
	a.SetPools([]Pool{pool("p", "10.0.0.0/30", "fd00::/128")})
	if _, err := a.Allocate(other); err != nil {
		t.Fatal(err)
	}
	if asg, _ := a.Assignment("ns/other"); len(asg.IPs) != 1 {
		t.Fatalf("other got %v before asking for the second family", asg.IPs)
	}
	if ip, err := a.AddFamily("ns/other"); ip.IsValid() || !errors.Is(err, ErrExhausted) {
		t.Errorf("AddFamily on an exhausted range = %v, %v; want ErrExhausted", ip, err)
	}
}
