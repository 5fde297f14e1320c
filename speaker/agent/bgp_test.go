package agent

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

const bgpMe = "node-a"

// netipEqual compares netip values by value (their fields are unexported).
var netipEqual = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func onNodes(kv ...string) []metav1.LabelSelector {
	return []metav1.LabelSelector{{MatchLabels: map[string]string{kv[0]: kv[1]}}}
}

func ptr[T any](v T) *T { return &v }

// bgpResources: pools v4 (10.0.0.0/24), v6 (2001:db8::/64) and other
// (10.9.0.0/24, advertised by nobody unless a case adds it); peers r1 and
// r2 on every node, rack-b only on rack b; a Community alias.
func bgpResources() config.Resources {
	peer := func(name, addr string) v1beta2.BGPPeer {
		return v1beta2.BGPPeer{ObjectMeta: meta(name), Spec: v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Address: addr}}
	}
	rackB := peer("rack-b", "192.0.2.3")
	rackB.Spec.NodeSelectors = onNodes("rack", "b")
	return config.Resources{
		Pools: []v1beta1.IPAddressPool{
			{ObjectMeta: meta("v4"), Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}}},
			{ObjectMeta: meta("v6"), Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"2001:db8::/64"}}},
			{ObjectMeta: meta("other"), Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.9.0.0/24"}}},
		},
		Peers:       []v1beta2.BGPPeer{peer("r1", "192.0.2.1"), peer("r2", "192.0.2.2"), rackB},
		Communities: []v1beta1.Community{{ObjectMeta: meta("aliases"), Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "no-advertise", Value: "65535:65282"}}}}},
	}
}

func adv(name string, pools ...string) v1beta1.BGPAdvertisement {
	return v1beta1.BGPAdvertisement{ObjectMeta: meta(name), Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: pools}}
}

func bgpSvc(key string, local bool, ready []string, ips ...string) Service {
	s := Service{Key: key, Local: local, ReadyNodes: ready}
	for _, ip := range ips {
		s.IPs = append(s.IPs, netip.MustParseAddr(ip))
	}
	return s
}

func path(prefix string, services, peers []string, localPref uint32, communities ...string) bgpspec.Path {
	p := bgpspec.Path{Prefix: netip.MustParsePrefix(prefix), Services: services, Peers: peers, LocalPref: localPref}
	for _, c := range communities {
		parsed, err := config.ParseCommunity(c)
		if err != nil {
			panic(err)
		}
		p.Communities = append(p.Communities, parsed)
	}
	return p
}

var (
	r1r2      = []string{"r1", "r2"}
	elsewhere = []string{"node-b"}
	here      = []string{bgpMe}
)

func TestBGPPaths(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*config.Resources)
		me       Node
		services []Service
		want     []bgpspec.Path
	}{
		{name: "Cluster: every node advertises a Service with a ready endpoint anywhere, /32 on every session",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4")} },
			services: []Service{bgpSvc("ns/a", false, elsewhere, "10.0.0.5")},
			want:     []bgpspec.Path{path("10.0.0.5/32", []string{"ns/a"}, r1r2, 0)}},
		{name: "no ready endpoint anywhere: nothing",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4")} },
			services: []Service{bgpSvc("ns/a", false, nil, "10.0.0.5")}},
		{name: "Local without a ready endpoint on this node: nothing",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4")} },
			services: []Service{bgpSvc("ns/a", true, elsewhere, "10.0.0.5")}},
		{name: "Local with a ready endpoint on this node: advertised",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4")} },
			services: []Service{bgpSvc("ns/a", true, here, "10.0.0.5")},
			want:     []bgpspec.Path{path("10.0.0.5/32", []string{"ns/a"}, r1r2, 0)}},
		{name: "excluded node: sessions but no path",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4")} },
			me:       Node{Name: bgpMe, Excluded: true},
			services: []Service{bgpSvc("ns/a", false, here, "10.0.0.5")}},
		{name: "IP in a pool no advertisement names: nothing",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4")} },
			services: []Service{bgpSvc("ns/a", false, here, "10.9.0.5")}},
		{name: "an advertisement without pools advertises every pool",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all")} },
			services: []Service{bgpSvc("ns/a", false, here, "10.9.0.5")},
			want:     []bgpspec.Path{path("10.9.0.5/32", []string{"ns/a"}, r1r2, 0)}},
		{name: "pool selectors",
			mutate: func(r *config.Resources) {
				r.Pools[2].Labels = map[string]string{"bgp": "yes"}
				a := adv("sel")
				a.Spec.IPAddressPoolSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"bgp": "yes"}}}
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{a}
			},
			services: []Service{bgpSvc("ns/a", false, here, "10.9.0.5"), bgpSvc("ns/b", false, here, "10.0.0.5")},
			want:     []bgpspec.Path{path("10.9.0.5/32", []string{"ns/a"}, r1r2, 0)}},
		{name: "advertisement's node selectors leave this node out: nothing",
			mutate: func(r *config.Resources) {
				a := adv("rack-b-only", "v4")
				a.Spec.NodeSelectors = onNodes("rack", "b")
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{a}
			},
			services: []Service{bgpSvc("ns/a", false, here, "10.0.0.5")}},
		{name: "a peer selecting this node is a session paths go to",
			mutate:   func(r *config.Resources) { r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4")} },
			me:       Node{Name: bgpMe, Labels: map[string]string{"rack": "b"}},
			services: []Service{bgpSvc("ns/a", false, here, "10.0.0.5")},
			want:     []bgpspec.Path{path("10.0.0.5/32", []string{"ns/a"}, []string{"r1", "r2", "rack-b"}, 0)}},
		{name: "service selectors",
			mutate: func(r *config.Resources) {
				a := adv("web", "v4")
				a.Spec.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "web"}}}
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{a}
			},
			services: []Service{
				{Key: "ns/web", Labels: map[string]string{"app": "web"}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}, ReadyNodes: here},
				bgpSvc("ns/db", false, here, "10.0.0.6"),
			},
			want: []bgpspec.Path{path("10.0.0.5/32", []string{"ns/web"}, r1r2, 0)}},
		{name: "the advertisement's peers only; one this node has no session with is skipped",
			mutate: func(r *config.Resources) {
				a := adv("to-r2", "v4")
				a.Spec.Peers = []string{"r2", "rack-b"}
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{a}
			},
			services: []Service{bgpSvc("ns/a", false, here, "10.0.0.5")},
			want:     []bgpspec.Path{path("10.0.0.5/32", []string{"ns/a"}, []string{"r2"}, 0)}},
		{name: "aggregation: two Services in one /24 are one path naming both",
			mutate: func(r *config.Resources) {
				a := adv("agg", "v4")
				a.Spec.AggregationLength = ptr(int32(24))
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{a}
			},
			services: []Service{bgpSvc("ns/b", false, here, "10.0.0.6"), bgpSvc("ns/a", false, here, "10.0.0.5")},
			want:     []bgpspec.Path{path("10.0.0.0/24", []string{"ns/a", "ns/b"}, r1r2, 0)}},
		{name: "IPv6: /128 by default, aggregationLengthV6 when set; dual-stack Services advertise both, " +
			"each family on the sessions that carry it (its own, dualStackAddressFamily, unnumbered)",
			mutate: func(r *config.Resources) {
				a := adv("v6", "v6")
				a.Spec.AggregationLengthV6 = ptr(int32(64))
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("host", "v4", "v6"), a}
				r.Peers[0].Spec.DualStackAddressFamily = true
				r.Peers = append(r.Peers,
					v1beta2.BGPPeer{ObjectMeta: meta("r6"), Spec: v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Address: "2001:db8:ffff::1"}},
					v1beta2.BGPPeer{ObjectMeta: meta("link"), Spec: v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Interface: "eth1"}})
			},
			services: []Service{bgpSvc("ns/a", false, here, "10.0.0.5", "2001:db8::5")},
			want: []bgpspec.Path{
				path("10.0.0.5/32", []string{"ns/a"}, []string{"link", "r1", "r2"}, 0),
				path("2001:db8::/64", []string{"ns/a"}, []string{"link", "r1", "r6"}, 0),
				path("2001:db8::5/128", []string{"ns/a"}, []string{"link", "r1", "r6"}, 0),
			}},
		{name: "one prefix from two advertisements: communities joined (aliases resolved), the highest localPref",
			mutate: func(r *config.Resources) {
				a, b := adv("a", "v4"), adv("b", "v4")
				a.Spec.LocalPref, a.Spec.Communities = 100, []string{"no-advertise", "64500:1"}
				b.Spec.LocalPref, b.Spec.Communities = 200, []string{"64500:1", "large:64500:2:3"}
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{a, b}
			},
			services: []Service{bgpSvc("ns/a", false, here, "10.0.0.5")},
			want:     []bgpspec.Path{path("10.0.0.5/32", []string{"ns/a"}, r1r2, 200, "64500:1", "65535:65282", "large:64500:2:3")}},
		{name: "peers given different attributes get separate paths",
			mutate: func(r *config.Resources) {
				a, b := adv("all", "v4"), adv("r2-pref", "v4")
				b.Spec.Peers, b.Spec.LocalPref = []string{"r2"}, 300
				r.BGPAdvertisements = []v1beta1.BGPAdvertisement{a, b}
			},
			services: []Service{bgpSvc("ns/a", false, here, "10.0.0.5")},
			want: []bgpspec.Path{
				path("10.0.0.5/32", []string{"ns/a"}, []string{"r1"}, 0),
				path("10.0.0.5/32", []string{"ns/a"}, []string{"r2"}, 300),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := bgpResources()
			tt.mutate(&res)
			me := tt.me
			if me.Name == "" {
				me.Name = bgpMe
			}
			a := bgpAgent(t, res, me, tt.services)
			got := a.BGP().Paths
			if diff := cmp.Diff(tt.want, got, netipEqual); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
}

func bgpAgent(t *testing.T, res config.Resources, me Node, services []Service) *Agent {
	t.Helper()
	cfg, _, err := config.Parse(res)
	if err != nil {
		t.Fatal(err)
	}
	a := New(me.Name, []string{me.Name})
	a.SetConfig(cfg)
	a.SetNode(me)
	a.SetNode(Node{Name: "node-b"})
	for _, s := range services {
		a.SetService(s)
	}
	return a
}

func TestBGPSessions(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Resources)
		me     Node
		want   []string
	}{
		{name: "peers without node selectors are on every node; rack-b's selector leaves this node out",
			me: Node{Name: bgpMe}, want: r1r2},
		{name: "a node matching the selector keeps that session too",
			me: Node{Name: bgpMe, Labels: map[string]string{"rack": "b"}}, want: []string{"r1", "r2", "rack-b"}},
		{name: "an excluded node still keeps its sessions (it advertises nothing on them)",
			me: Node{Name: bgpMe, Excluded: true}, want: r1r2},
		{name: "a peer in a VRF is not a session: VRFs are not supported",
			mutate: func(r *config.Resources) { r.Peers[1].Spec.VRFName = "red" },
			me:     Node{Name: bgpMe}, want: []string{"r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := bgpResources()
			if tt.mutate != nil {
				tt.mutate(&res)
			}
			var got []string
			for _, s := range bgpAgent(t, res, tt.me, nil).BGP().Sessions {
				got = append(got, s.Peer)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sessions %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBGPSessionCarriesThePeersSettings(t *testing.T) {
	res := bgpResources()
	res.Peers[0].Spec.Password = "secret"
	res.Peers[0].Spec.SrcAddress = "192.0.2.100"
	res.Peers[0].Spec.HoldTime = &metav1.Duration{Duration: 90e9}
	res.Peers[0].Spec.LocalASN = 64999
	res.Peers[0].Spec.EBGPMultiHop = true
	res.Peers[0].Spec.BFDProfile = "fast"
	rx, mult, passive := uint32(100), uint32(5), true
	// Unset fields take MetalLB's defaults: transmit 300 ms, echo 50 ms,
	// minimum TTL 254, no echo.
	res.BFDProfiles = []v1beta1.BFDProfile{{ObjectMeta: meta("fast"),
		Spec: v1beta1.BFDProfileSpec{ReceiveInterval: &rx, DetectMultiplier: &mult, PassiveMode: &passive}}}
	got := bgpAgent(t, res, Node{Name: bgpMe}, nil).BGP().Sessions[0]
	want := bgpspec.Session{Peer: "r1", MyASN: 64500, PeerASN: 64501, Address: netip.MustParseAddr("192.0.2.1"), Port: 179,
		SourceAddress: netip.MustParseAddr("192.0.2.100"), HoldTime: 90e9, KeepaliveTime: 30e9, LocalASN: 64999, Password: "secret",
		EBGPMultiHop: true, BFDProfile: "fast",
		BFD: bgpspec.BFD{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, EchoInterval: 50 * time.Millisecond,
			DetectMultiplier: 5, MinimumTTL: 254, PassiveMode: true}}
	if diff := cmp.Diff(want, got, netipEqual); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}
}

func TestBGPNothingBeforeThisNodeIsKnown(t *testing.T) {
	cfg, _, err := config.Parse(bgpResources())
	if err != nil {
		t.Fatal(err)
	}
	a := New(bgpMe, nil)
	a.SetConfig(cfg)
	a.SetService(bgpSvc("ns/a", false, here, "10.0.0.5"))
	if d := a.BGP(); len(d.Sessions)+len(d.Paths) != 0 {
		t.Errorf("without its Node's labels the agent wants %+v, want nothing", d)
	}
}

// TestBGPSameResultInEveryOrder: Services, advertisements and peers
// arriving in any order give the same Desired.
func TestBGPSameResultInEveryOrder(t *testing.T) {
	res := bgpResources()
	a, b, c := adv("a", "v4"), adv("b", "v4"), adv("c", "v4", "v6")
	a.Spec.AggregationLength, a.Spec.Communities = ptr(int32(24)), []string{"64500:1"}
	b.Spec.Peers, b.Spec.LocalPref, b.Spec.Communities = []string{"r1"}, 50, []string{"64500:2"}
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{a, b, c}
	services := []Service{
		bgpSvc("ns/a", false, here, "10.0.0.5"), bgpSvc("ns/b", false, here, "10.0.0.6", "2001:db8::6"),
		bgpSvc("ns/c", true, here, "10.0.0.7"), bgpSvc("ns/d", false, elsewhere, "10.0.0.5"),
	}
	want := bgpAgent(t, res, Node{Name: bgpMe}, services).BGP()
	if len(want.Paths) == 0 {
		t.Fatal("nothing advertised")
	}
	for i := range 24 {
		r := res
		r.BGPAdvertisements = rotate(res.BGPAdvertisements, i%3)
		r.Peers = rotate(res.Peers, i/3%3)
		s := rotate(services, i%4)
		if i%2 == 1 {
			slices.Reverse(s)
		}
		got := bgpAgent(t, r, Node{Name: bgpMe}, s).BGP()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("order %d: %s", i, cmp.Diff(want, got, netipEqual))
		}
	}
}

func rotate[T any](in []T, n int) []T {
	return append(slices.Clone(in[n:]), in[:n]...)
}

// BenchmarkBGP1000Services: the loop computes the Desired on every sync.
func BenchmarkBGP1000Services(b *testing.B) {
	res := bgpResources()
	res.BGPAdvertisements = []v1beta1.BGPAdvertisement{adv("all", "v4"), adv("agg", "v4")}
	res.BGPAdvertisements[1].Spec.AggregationLength = ptr(int32(28))
	cfg, _, err := config.Parse(res)
	if err != nil {
		b.Fatal(err)
	}
	a := New(bgpMe, nil)
	a.SetConfig(cfg)
	a.SetNode(Node{Name: bgpMe})
	for i := range 1000 {
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 250)})
		a.SetService(Service{Key: fmt.Sprintf("ns/s%d", i), IPs: []netip.Addr{ip}, ReadyNodes: here})
	}
	b.ResetTimer()
	for b.Loop() {
		_ = a.BGP()
	}
}
