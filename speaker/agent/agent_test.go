package agent

import (
	"net/netip"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/election"
)

var (
	workers = []string{"myk8s-worker", "myk8s-worker2", "myk8s-worker3"}
	all     = append([]string{"myk8s-control-plane"}, workers...)
)

func seedConfig(t *testing.T, mutate func(*v1beta1.L2Advertisement)) *config.Config {
	t.Helper()
	adv := v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "my-l2-advertise"},
		Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"my-ippool"}}}
	if mutate != nil {
		mutate(&adv)
	}
	cfg, _, err := config.Parse(config.Resources{
		Pools:            []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "my-ippool"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"172.20.255.200-172.20.255.250"}}}},
		L2Advertisements: []v1beta1.L2Advertisement{adv},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// seedCluster is the walkthrough's: kind labels the control plane as
// excluded from external load balancers.
func seedCluster(t *testing.T, me string, mutate func(*v1beta1.L2Advertisement)) *Agent {
	t.Helper()
	a := New(me, all)
	a.SetConfig(seedConfig(t, mutate))
	a.SetNode(Node{Name: "myk8s-control-plane", Excluded: true, Labels: map[string]string{"mynode": "control-plane"}})
	for i, w := range workers {
		a.SetNode(Node{Name: w, Labels: map[string]string{"mynode": "worker" + string(rune('1'+i))}})
	}
	return a
}

func svc(key, ip string, local bool, ready ...string) Service {
	return Service{Key: key, IPs: []netip.Addr{netip.MustParseAddr(ip)}, Local: local, ReadyNodes: ready}
}

func TestOwnersFollowMetalLBOrderAmongEligibleNodes(t *testing.T) {
	a := seedCluster(t, "myk8s-worker", nil)
	for _, s := range []Service{
		svc("default/svc1", "172.20.255.200", false, "myk8s-worker", "myk8s-worker2"),
		svc("default/svc2", "172.20.255.201", false, "myk8s-worker", "myk8s-worker2"),
		svc("default/svc3", "172.20.255.202", false, "myk8s-worker", "myk8s-worker2"),
	} {
		a.SetService(s)
		want := election.Rank(workers, s.IPs[0], nil)[0]
		if got := a.Owner(s.Key); got != want {
			t.Errorf("%s owned by %q, want %q (the control plane is excluded)", s.Key, got, want)
		}
	}
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*v1beta1.L2Advertisement)
		svc    Service
		want   []string // possible owners
	}{
		{"traffic policy Local: only nodes with a ready endpoint", nil,
			svc("ns/local", "172.20.255.210", true, "myk8s-worker3"), []string{"myk8s-worker3"}},
		{"no ready endpoint: nobody", nil, svc("ns/empty", "172.20.255.211", false), nil},
		{"IP outside every advertised pool: nobody", nil, svc("ns/other", "10.0.0.1", false, "myk8s-worker"), nil},
		{"node selectors", func(adv *v1beta1.L2Advertisement) {
			adv.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"mynode": "worker2"}}}
		}, svc("ns/selected", "172.20.255.212", false, "myk8s-worker"), []string{"myk8s-worker2"}},
		{"service selectors that do not match: nobody", func(adv *v1beta1.L2Advertisement) {
			adv.Spec.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"l2": "yes"}}}
		}, svc("ns/unlabelled", "172.20.255.213", false, "myk8s-worker"), nil},
		{"a preferred node wins", func(adv *v1beta1.L2Advertisement) {
			adv.Spec.PreferredNodeSelectors = []v1beta1.PreferredNodeSelector{{Weight: 50,
				Preference: metav1.LabelSelector{MatchLabels: map[string]string{"mynode": "worker3"}}}}
		}, svc("ns/preferred", "172.20.255.214", false, "myk8s-worker"), []string{"myk8s-worker3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := seedCluster(t, "myk8s-worker", tt.mutate)
			a.SetService(tt.svc)
			got := a.Owner(tt.svc.Key)
			if len(tt.want) == 0 {
				if got != "" {
					t.Errorf("owner %q, want nobody", got)
				}
				return
			}
			if !slices.Contains(tt.want, got) {
				t.Errorf("owner %q, want one of %v", got, tt.want)
			}
		})
	}
}

// TestFailoverMovesOnlyTheDeadNodesServices and this node's announcements
// follow.
func TestFailoverMovesOnlyTheDeadNodesServices(t *testing.T) {
	a := seedCluster(t, "myk8s-worker2", nil)
	ip := netip.MustParseAddr("172.20.255.200")
	for i := range 30 {
		a.SetService(Service{Key: "ns/s" + string(rune('a'+i)), IPs: []netip.Addr{ip}, ReadyNodes: workers})
		ip = ip.Next()
	}
	victim := a.Owner("ns/sa")
	before := map[string]string{}
	for k := range a.services {
		before[k] = a.Owner(k)
	}
	a.MemberLeft(victim)
	moved := 0
	for k, was := range before {
		if was == victim {
			moved++
			if a.Owner(k) == victim || a.Owner(k) == "" {
				t.Errorf("%s still owned by %q", k, a.Owner(k))
			}
		} else if a.Owner(k) != was {
			t.Errorf("%s moved from %s to %s though its owner is alive", k, was, a.Owner(k))
		}
	}
	if moved == 0 {
		t.Fatalf("%s owned nothing: the test proves nothing", victim)
	}
	for _, ann := range a.Announcements() {
		if a.Owner(ann.Service) != "myk8s-worker2" {
			t.Errorf("announcing %s of %s, owned by %s", ann.IP, ann.Service, a.Owner(ann.Service))
		}
	}
}

func TestAnnouncementInterfaces(t *testing.T) {
	a := seedCluster(t, "myk8s-worker", func(adv *v1beta1.L2Advertisement) { adv.Spec.Interfaces = []string{"eth1", "eth0"} })
	a.SetService(svc("ns/only-me", "172.20.255.220", true, "myk8s-worker"))
	got := a.Announcements()
	if len(got) != 1 || !slices.Equal(got[0].Interfaces, []string{"eth0", "eth1"}) {
		t.Errorf("announcements %+v, want one on eth0 and eth1", got)
	}
	b := seedCluster(t, "myk8s-worker", nil)
	b.SetService(svc("ns/only-me", "172.20.255.220", true, "myk8s-worker"))
	if got := b.Announcements(); len(got) != 1 || got[0].Interfaces != nil {
		t.Errorf("announcements %+v, want every usable interface (nil)", got)
	}
}

// TestSharedIPElectedPerService: two Services sharing an IP
// (allow-shared-ip), each selected by its own L2Advertisement
// (serviceSelectors) for its own nodes, are elected each among its own
// advertisement's nodes, as MetalLB 0.16 elects (l2AdsForService); a
// Service no advertisement selects is announced by nobody, whatever the
// other Service sharing its IP gets.
func TestSharedIPElectedPerService(t *testing.T) {
	adv := func(name, app, node string) v1beta1.L2Advertisement {
		return v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.L2AdvertisementSpec{
			IPAddressPools:   []string{"my-ippool"},
			ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"app": app}}},
			NodeSelectors:    []metav1.LabelSelector{{MatchLabels: map[string]string{"kubernetes.io/hostname": node}}},
		}}
	}
	cfg, _, err := config.Parse(config.Resources{
		Pools:            []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "my-ippool"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"172.20.255.200-172.20.255.250"}}}},
		L2Advertisements: []v1beta1.L2Advertisement{adv("for-a", "a", workers[0]), adv("for-b", "b", workers[1])},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := New(workers[0], workers)
	a.SetConfig(cfg)
	for _, w := range workers {
		a.SetNode(Node{Name: w, Labels: map[string]string{"kubernetes.io/hostname": w}})
	}
	shared := func(key, app string) Service {
		s := svc(key, "172.20.255.210", false, workers...)
		s.Labels = map[string]string{"app": app}
		return s
	}
	a.SetService(shared("default/a", "a"))
	a.SetService(shared("default/b", "b"))
	a.SetService(shared("default/c", "c"))
	for key, want := range map[string]string{"default/a": workers[0], "default/b": workers[1], "default/c": ""} {
		if got := a.Owner(key); got != want {
			t.Errorf("%s: owner %q, want %q", key, got, want)
		}
	}
}
