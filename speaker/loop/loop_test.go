package loop

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	testclock "k8s.io/utils/clock/testing"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/agent"
	"github.com/ironlb/ironlb/speaker/members"
	"github.com/ironlb/ironlb/test/poll"
)

// recorder fakes the announcer, the status sink and the metrics, and keeps
// the order in which they were called.
type recorder struct {
	mu             sync.Mutex
	calls          []string
	announced      map[netip.Addr][]string
	takeovers      int
	tookOver       []string  // services of the last takeover
	lastContact    time.Time // and the failed member's last contact
	statusAfterSet bool      // the announcer already had a VIP when status was told
	bgpAnnounced   map[string][]netip.Addr
}

func (r *recorder) log(s string) { r.mu.Lock(); r.calls = append(r.calls, s); r.mu.Unlock() }
func (r *recorder) Set(want map[netip.Addr][]string) error {
	r.mu.Lock()
	r.announced = want
	r.mu.Unlock()
	r.log("set")
	return nil
}
func (r *recorder) Announcing(svc string, _ []string) {
	r.mu.Lock()
	r.statusAfterSet = len(r.announced) > 0
	r.mu.Unlock()
	r.log("status+" + svc)
}
func (r *recorder) NotAnnouncing(svc string) { r.log("status-" + svc) }
func (r *recorder) AnnounceFailed(svc string, ips []netip.Addr) {
	r.log(fmt.Sprintf("failed %s %v", svc, ips))
}
func (r *recorder) Announced(string, []netip.Addr, bool) {}
func (r *recorder) Takeover(services []string, lastContact, _, _, _ time.Time) {
	r.mu.Lock()
	r.takeovers++
	r.tookOver, r.lastContact = services, lastContact
	r.mu.Unlock()
}

// takeoverRecorded is a condition: a takeover was recorded. The announcer has the
// VIPs before the metrics hear of the takeover, so owning a VIP does not
// mean it was recorded yet.
func (r *recorder) takeoverRecorded() func() bool {
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.takeovers > 0
	}
}
func (r *recorder) MembersAlive(int)   {}
func (r *recorder) ServiceSeen(string) {}
func (r *recorder) ServiceGone(string) {}
func (r *recorder) AnnouncedBGP(service string, ips []netip.Addr, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bgpAnnounced == nil {
		r.bgpAnnounced = map[string][]netip.Addr{}
	}
	if on {
		r.bgpAnnounced[service] = ips
	} else if slices.Equal(r.bgpAnnounced[service], ips) {
		delete(r.bgpAnnounced, service)
	}
}
func (r *recorder) owns(ip netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.announced[ip]
	return ok
}
func (r *recorder) history() []string { r.mu.Lock(); defer r.mu.Unlock(); return slices.Clone(r.calls) }

// fakeMembers is settled from the start unless settled is set.
type fakeMembers struct {
	ch      chan []members.Event
	alive   []string
	settled chan struct{}
}

func (f fakeMembers) Alive() []string { return f.alive }
func (f fakeMembers) Settled() <-chan struct{} {
	if f.settled == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return f.settled
}

func (f fakeMembers) Next(ctx context.Context) ([]members.Event, error) {
	select {
	case e := <-f.ch:
		return e, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.True(t, what, 5*time.Second, time.Millisecond, cond)
}

var testNodes = []string{"n1", "n2"}

// testConfig is one pool of 10.0.0.0/24 announced by every node.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, _, err := config.Parse(config.Resources{
		Pools:            []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}}}},
		L2Advertisements: []v1beta1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ownerOf returns which of testNodes owns the Service when both are alive.
func ownerOf(cfg *config.Config, svc agent.Service) string {
	probe := agent.New("x", testNodes)
	probe.SetConfig(cfg)
	for _, n := range testNodes {
		probe.SetNode(agent.Node{Name: n})
	}
	probe.SetService(svc)
	return probe.Owner(svc.Key)
}

// other returns the test node that is not n.
func other(n string) string {
	if n == testNodes[0] {
		return testNodes[1]
	}
	return testNodes[0]
}

// initialUpdates is how many updates runLoop sends: the configuration and
// both Nodes.
var initialUpdates = 1 + len(testNodes)

// stepper records the loop's finished steps, so a test can wait until the
// loop has taken an update and acted on it.
type stepper struct{ applied atomic.Int64 }

// watch makes l report its steps to s; call before runLoop.
func (s *stepper) watch(l *Loop) { l.afterStep = func(n int) { s.applied.Store(int64(n)) } }

// waitApplied returns once the loop has applied n updates and finished
// the step that applied the last of them.
func (s *stepper) waitApplied(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("the loop to apply %d updates", n), func() bool { return s.applied.Load() >= int64(n) })
}

// runLoop runs l until the test ends, after sending it the configuration
// and both Nodes.
func runLoop(t *testing.T, l *Loop, updates chan<- Update, cfg *config.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	updates <- Update{Config: cfg}
	for _, n := range testNodes {
		updates <- Update{Node: &agent.Node{Name: n}}
	}
}

// TestTakeoverAnnouncesBeforeStatus: when the owner dies, this node's
// announcer is set before the status sink hears of it, and the takeover is
// observed.
func TestTakeoverAnnouncesBeforeStatus(t *testing.T) {
	cfg := testConfig(t)
	vip := netip.MustParseAddr("10.0.0.7")
	svc := agent.Service{Key: "ns/s", IPs: []netip.Addr{vip}, ReadyNodes: testNodes}
	owner := ownerOf(cfg, svc)
	me := other(owner) // ranks second

	rec := &recorder{}
	updates := make(chan Update, 16)
	fm := fakeMembers{ch: make(chan []members.Event, 1)}
	l := &Loop{Agent: agent.New(me, testNodes), Updates: updates, Members: fm, Announcer: rec, Status: rec, Metrics: rec,
		Interfaces: func() []string { return []string{"eth0"} }, Log: logr.Discard()}
	var steps stepper
	steps.watch(l)
	runLoop(t, l, updates, cfg)
	updates <- Update{Service: &svc}
	steps.waitApplied(t, initialUpdates+1)
	if rec.owns(vip) {
		t.Fatalf("%s announces a VIP %s owns", me, owner)
	}
	lastContact := time.Now().Add(-300 * time.Millisecond)
	fm.ch <- []members.Event{{Kind: members.Left, Node: owner, At: time.Now(), LastContact: lastContact}}
	eventually(t, "taking over", func() bool { return rec.owns(vip) })
	eventually(t, "status reported", func() bool { return slices.Contains(rec.history(), "status+ns/s") })
	rec.mu.Lock()
	takeovers, ordered := rec.takeovers, rec.statusAfterSet
	tookOver, gotContact := rec.tookOver, rec.lastContact
	rec.mu.Unlock()
	if !slices.Equal(tookOver, []string{"ns/s"}) || !gotContact.Equal(lastContact) {
		t.Errorf("takeover observed for %v, last contact %v; want [ns/s], %v", tookOver, gotContact, lastContact)
	}
	if !ordered {
		t.Errorf("the status sink heard of the takeover before the announcer answered: %v", rec.history())
	}
	if takeovers != 1 {
		t.Errorf("takeovers observed: %d, want 1", takeovers)
	}
}

// TestQuietUntilMembershipSettles: a speaker that has not joined the others
// yet sees itself alone and would own every VIP; it announces nothing
// until joining is done, and then only what is its own.
func TestQuietUntilMembershipSettles(t *testing.T) {
	cfg := testConfig(t)
	// One VIP each node owns.
	var services []agent.Service
	owned := map[string]netip.Addr{}
	for i := 1; len(owned) < 2 && i < 255; i++ {
		s := agent.Service{Key: fmt.Sprintf("ns/s%d", i), IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}, ReadyNodes: testNodes}
		if o := ownerOf(cfg, s); owned[o] == (netip.Addr{}) {
			owned[o] = s.IPs[0]
			services = append(services, s)
		}
	}
	me := testNodes[0]

	rec := &recorder{}
	updates := make(chan Update, 16)
	fm := fakeMembers{ch: make(chan []members.Event), alive: testNodes, settled: make(chan struct{})}
	l := &Loop{Agent: agent.New(me, []string{me}), Updates: updates, Members: fm, Announcer: rec, Status: rec, Metrics: rec,
		Interfaces: func() []string { return []string{"eth0"} }, Log: logr.Discard()}
	var steps stepper
	steps.watch(l)
	runLoop(t, l, updates, cfg)
	for _, s := range services {
		updates <- Update{Service: &s}
	}
	steps.waitApplied(t, initialUpdates+len(services))
	if h := rec.history(); len(h) > 0 {
		t.Fatalf("announced before membership settled: %v", h)
	}
	close(fm.settled)
	eventually(t, "announcing its own VIP", func() bool { return rec.owns(owned[me]) })
	if rec.owns(owned[other(me)]) {
		t.Errorf("%s announces %s, which %s owns", me, owned[other(me)], other(me))
	}
}

// TestHandoffToReturningNodeLingers: when a node that outranks this one
// comes back, this node keeps answering the VIP for HandoffLinger (make
// before break), tells the status sink at once, and then lets go.
func TestHandoffToReturningNodeLingers(t *testing.T) {
	testHandoff(t, testclock.NewFakeClock(time.Now()))
}

func testHandoff(t *testing.T, clk clock.Clock) {
	cfg := testConfig(t)
	vip := netip.MustParseAddr("10.0.0.7")
	svc := agent.Service{Key: "ns/s", IPs: []netip.Addr{vip}, ReadyNodes: testNodes}
	returning := ownerOf(cfg, svc)
	me := other(returning)

	rec := &recorder{}
	updates := make(chan Update, 16)
	fm := fakeMembers{ch: make(chan []members.Event, 1), alive: []string{me}}
	l := &Loop{Agent: agent.New(me, []string{me}), Updates: updates, Members: fm, Announcer: rec, Status: rec, Metrics: rec,
		Interfaces: func() []string { return []string{"eth0"} }, Log: logr.Discard(), Clock: clk}
	runLoop(t, l, updates, cfg)
	updates <- Update{Service: &svc}
	eventually(t, "announcing while alone", func() bool { return rec.owns(vip) })

	fm.ch <- []members.Event{{Kind: members.Joined, Node: returning, At: clk.Now()}}
	eventually(t, "status told of the handoff", func() bool { return slices.Contains(rec.history(), "status-ns/s") })
	if !rec.owns(vip) {
		t.Fatalf("stopped answering %s the moment %s came back: no make before break", vip, returning)
	}
	if fc, ok := clk.(*testclock.FakeClock); ok {
		eventually(t, "a timer for the linger", func() bool { return fc.HasWaiters() })
		fc.Step(DefaultHandoffLinger)
	}
	eventually(t, "letting go after the linger", func() bool { return !rec.owns(vip) })
}

// TestNewInterfaceIsAnnouncedAtOnce: an interface that appears after start
// (ifwatch reports it) is announced on with no other change in the cluster.
func TestNewInterfaceIsAnnouncedAtOnce(t *testing.T) {
	cfg := testConfig(t)
	vip := netip.MustParseAddr("10.0.0.7")
	svc := agent.Service{Key: "ns/s", IPs: []netip.Addr{vip}, ReadyNodes: testNodes}
	me := ownerOf(cfg, svc)

	var mu sync.Mutex
	ifaces := []string{"eth0"}
	changed := make(chan struct{}, 1)
	rec := &recorder{}
	updates := make(chan Update, 16)
	l := &Loop{Agent: agent.New(me, testNodes), Updates: updates, Announcer: rec, Status: rec, Metrics: rec,
		Interfaces:        func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(ifaces) },
		InterfacesChanged: changed, Log: logr.Discard()}
	runLoop(t, l, updates, cfg)
	updates <- Update{Service: &svc}
	eventually(t, "announcing on eth0", func() bool { return rec.owns(vip) })

	mu.Lock()
	ifaces = []string{"eth0", "eth1"}
	mu.Unlock()
	changed <- struct{}{}
	eventually(t, "announcing on eth1 too", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Equal(rec.announced[vip], []string{"eth0", "eth1"})
	})
	eventually(t, "the status told of eth1", func() bool {
		n := 0
		for _, c := range rec.history() {
			if c == "status+ns/s" {
				n++
			}
		}
		return n == 2
	})
}

// TestMissingInterfaceFailsAnnounce: the owner of a Service whose
// L2Advertisement names only an interface this node lacks does not
// announce it, says so once (MetalLB's announceFailed), and announces as
// soon as the interface appears.
func TestMissingInterfaceFailsAnnounce(t *testing.T) {
	cfg, _, err := config.Parse(config.Resources{
		Pools: []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}}}},
		L2Advertisements: []v1beta1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "a"},
			Spec: v1beta1.L2AdvertisementSpec{Interfaces: []string{"eth1"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("10.0.0.7")
	svc := agent.Service{Key: "ns/s", IPs: []netip.Addr{vip}, ReadyNodes: testNodes}
	me := ownerOf(cfg, svc)

	var mu sync.Mutex
	ifaces := []string{"eth0"}
	changed := make(chan struct{}, 1)
	rec := &recorder{}
	updates := make(chan Update, 16)
	l := &Loop{Agent: agent.New(me, testNodes), Updates: updates, Announcer: rec, Status: rec, Metrics: rec,
		Interfaces:        func() []string { return []string{"eth0"} },
		Present:           func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(ifaces) },
		InterfacesChanged: changed, Log: logr.Discard()}
	var steps stepper
	steps.watch(l)
	runLoop(t, l, updates, cfg)
	updates <- Update{Service: &svc}
	steps.waitApplied(t, initialUpdates+1)
	updates <- Update{Node: &agent.Node{Name: me}} // a sync that changes nothing: no second Event
	steps.waitApplied(t, initialUpdates+2)
	failed := "failed ns/s [10.0.0.7]"
	h := rec.history()
	told := len(slices.DeleteFunc(slices.Clone(h), func(c string) bool { return c != failed }))
	if rec.owns(vip) || slices.Contains(h, "status+ns/s") || told != 1 {
		t.Fatalf("with eth1 missing: announced %v, history %v; want nothing announced and %q once", rec.owns(vip), h, failed)
	}

	// eth1 appears without an address (so not among the usable ones):
	// named, it is announced on, as MetalLB does.
	mu.Lock()
	ifaces = []string{"eth0", "eth1"}
	mu.Unlock()
	changed <- struct{}{}
	eventually(t, "announcing on eth1 once it exists", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Equal(rec.announced[vip], []string{"eth1"})
	})
	eventually(t, "the status told", func() bool { return slices.Contains(rec.history(), "status+ns/s") })
}
