package loop

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testclock "k8s.io/utils/clock/testing"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/agent"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// fakeBGP records every Set; fail makes the next ones fail. It doubles
// as the BGP status sink.
type fakeBGP struct {
	rec    *recorder
	mu     sync.Mutex
	sets   []bgpspec.Desired
	fail   bool
	status map[string][]string
}

func (f *fakeBGP) Set(d bgpspec.Desired) error {
	f.rec.log("bgp")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, d)
	if f.fail {
		return errors.New("bgp: the speaker is not running")
	}
	return nil
}
func (f *fakeBGP) Advertising(svc string, peers []string) {
	f.mu.Lock()
	f.status[svc] = peers
	f.mu.Unlock()
}
func (f *fakeBGP) NotAdvertising(svc string) { f.mu.Lock(); delete(f.status, svc); f.mu.Unlock() }
func (f *fakeBGP) calls() int                { f.mu.Lock(); defer f.mu.Unlock(); return len(f.sets) }
func (f *fakeBGP) last() bgpspec.Desired {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sets[len(f.sets)-1]
}
func (f *fakeBGP) peersOf(svc string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[svc]
}
func (f *fakeBGP) setFail(v bool) { f.mu.Lock(); f.fail = v; f.mu.Unlock() }

// bgpConfig is testConfig with a BGP peer and an advertisement of the pool.
func bgpConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, _, err := config.Parse(config.Resources{
		Pools:             []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}}}},
		L2Advertisements:  []v1beta1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "b"}}},
		Peers:             []v1beta2.BGPPeer{{ObjectMeta: metav1.ObjectMeta{Name: "tor"}, Spec: v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Address: "192.0.2.1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestBGPFollowsTheAnnouncerAndTheAgent(t *testing.T) {
	rec := &recorder{}
	fb := &fakeBGP{rec: rec, status: map[string][]string{}}
	updates := make(chan Update, 16)
	me := testNodes[0]
	l := &Loop{Agent: agent.New(me, testNodes), Updates: updates, Announcer: rec, Status: rec, Metrics: rec,
		Interfaces: func() []string { return []string{"eth0"} }, Log: logr.Discard(), BGP: fb, BGPStatus: fb}
	runLoop(t, l, updates, bgpConfig(t))
	vip := netip.MustParseAddr("10.0.0.7")
	svc := agent.Service{Key: "ns/s", IPs: []netip.Addr{vip}, ReadyNodes: testNodes}
	updates <- Update{Service: &svc}

	eventually(t, "the Service's path set", func() bool { return fb.calls() > 0 && len(fb.last().Paths) == 1 })
	if p := fb.last().Paths[0]; p.Prefix != netip.PrefixFrom(vip, 32) || !slices.Equal(p.Peers, []string{"tor"}) {
		t.Errorf("path %+v, want %s/32 to tor", p, vip)
	}
	eventually(t, "status of the Service", func() bool { return slices.Equal(fb.peersOf("ns/s"), []string{"tor"}) })
	eventually(t, "the Service's IP announced over BGP in the metrics", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Equal(rec.bgpAnnounced["ns/s"], []netip.Addr{vip})
	})
	h := rec.history()
	if i, j := slices.Index(h, "set"), slices.Index(h, "bgp"); i < 0 || j < i {
		t.Errorf("BGP was set before the announcer: %v", h)
	}

	// A change that leaves BGP as it is: no Set.
	calls := fb.calls()
	sets := len(slices.DeleteFunc(rec.history(), func(s string) bool { return s != "set" }))
	updates <- Update{Node: &agent.Node{Name: testNodes[1], Labels: map[string]string{"x": "y"}}}
	eventually(t, "the announcer synced", func() bool {
		return len(slices.DeleteFunc(rec.history(), func(s string) bool { return s != "set" })) > sets
	})
	if fb.calls() != calls {
		t.Errorf("Set called again with an unchanged Desired")
	}

	updates <- Update{RemoveService: "ns/s"}
	eventually(t, "the path withdrawn", func() bool { return len(fb.last().Paths) == 0 })
	eventually(t, "the status gone", func() bool { return fb.peersOf("ns/s") == nil })
	eventually(t, "the metrics' BGP announcement gone", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.bgpAnnounced["ns/s"] == nil
	})
}

func TestBGPFailedSetIsRetried(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	rec := &recorder{}
	fb := &fakeBGP{rec: rec, status: map[string][]string{}, fail: true}
	updates := make(chan Update, 16)
	l := &Loop{Agent: agent.New(testNodes[0], testNodes), Updates: updates, Announcer: rec, Status: rec, Metrics: rec,
		Interfaces: func() []string { return nil }, Log: logr.Discard(), Clock: clk, BGP: fb, BGPStatus: fb}
	runLoop(t, l, updates, bgpConfig(t))
	updates <- Update{Service: &agent.Service{Key: "ns/s", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.7")}, ReadyNodes: testNodes}}
	eventually(t, "a Set with the path", func() bool { return fb.calls() > 0 && len(fb.last().Paths) == 1 })
	if fb.peersOf("ns/s") != nil {
		t.Error("status reported although Set failed")
	}
	fb.setFail(false)
	calls := fb.calls()
	eventually(t, "a retry timer", clk.HasWaiters)
	clk.Step(DefaultBGPRetry)
	eventually(t, "the retry", func() bool { return fb.calls() > calls })
	eventually(t, "status once accepted", func() bool { return slices.Equal(fb.peersOf("ns/s"), []string{"tor"}) })
}
