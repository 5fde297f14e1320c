package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
)

func ipPool(name string, addrs ...string) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs}}
}

func l2(name string, pools ...string) v1beta1.L2Advertisement {
	return v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: pools}}
}

func bgpAdv(name string, mutate func(*v1beta1.BGPAdvertisementSpec)) v1beta1.BGPAdvertisement {
	a := v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: name}}
	mutate(&a.Spec)
	return a
}

func peer(name string, mutate func(*v1beta2.BGPPeerSpec)) v1beta2.BGPPeer {
	p := v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64500, Address: "10.0.0.1"}}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func TestParseSeedConfig(t *testing.T) {
	cfg, warnings, err := Parse(Resources{
		Pools:            []v1beta1.IPAddressPool{ipPool("my-ippool", "172.20.255.200-172.20.255.250")},
		L2Advertisements: []v1beta1.L2Advertisement{l2("my-l2-advertise", "my-ippool")},
	})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("seed config: err %v, warnings %v", err, warnings)
	}
	p := cfg.Pools["my-ippool"]
	if p == nil || !p.AutoAssign || p.AvoidBuggyIPs || len(p.Ranges) != 1 || p.Ranges[0].String() != "172.20.255.200-172.20.255.250" {
		t.Fatalf("pool = %+v", p)
	}
	if got := cfg.L2Advertisements[0].Pools; len(got) != 1 || got[0] != "my-ippool" {
		t.Errorf("L2Advertisement pools = %v", got)
	}
}

// TestParseProblems: each invalid configuration is refused with a problem
// naming the object and the field.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		name      string
		res       Resources
		wantObj   Ref
		wantField string
		wantMsg   string
		transient bool
	}{
		{"unparsable address", Resources{Pools: []v1beta1.IPAddressPool{ipPool("p", "10.0.0.300/24")}},
			Ref{KindIPAddressPool, "p"}, "spec.addresses[0]", "invalid CIDR", false},
		{"range start after end", Resources{Pools: []v1beta1.IPAddressPool{ipPool("p", "10.0.0.9-10.0.0.1")}},
			Ref{KindIPAddressPool, "p"}, "spec.addresses[0]", "start is after end", false},
		{"mixed families in one range", Resources{Pools: []v1beta1.IPAddressPool{ipPool("p", "10.0.0.1-fd00::1")}},
			Ref{KindIPAddressPool, "p"}, "spec.addresses[0]", "mixes IPv4 and IPv6", false},
		{"empty addresses", Resources{Pools: []v1beta1.IPAddressPool{ipPool("p")}},
			Ref{KindIPAddressPool, "p"}, "spec.addresses", "at least one", false},
		{"overlap inside a pool", Resources{Pools: []v1beta1.IPAddressPool{ipPool("p", "10.0.0.0/24", "10.0.0.128-10.0.1.5")}},
			Ref{KindIPAddressPool, "p"}, "spec.addresses[1]", "in the same pool", false},
		{"overlapping pools", Resources{Pools: []v1beta1.IPAddressPool{ipPool("a", "10.0.0.0/24"), ipPool("b", "10.0.0.200-10.0.0.210")}},
			Ref{KindIPAddressPool, "b"}, "spec.addresses", `overlaps 10.0.0.0-10.0.0.255 of IPAddressPool "a"`, false},
		{"bad namespace selector", Resources{Pools: []v1beta1.IPAddressPool{func() v1beta1.IPAddressPool {
			p := ipPool("p", "10.0.0.0/24")
			p.Spec.ServiceAllocation = &v1beta1.ServiceAllocation{NamespaceSelectors: []metav1.LabelSelector{{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}}}
			return p
		}()}}, Ref{KindIPAddressPool, "p"}, "spec.serviceAllocation.namespaceSelectors[0]", "invalid label selector", false},
		{"bad namespace name", Resources{Pools: []v1beta1.IPAddressPool{func() v1beta1.IPAddressPool {
			p := ipPool("p", "10.0.0.0/24")
			p.Spec.ServiceAllocation = &v1beta1.ServiceAllocation{Namespaces: []string{"Team_A"}}
			return p
		}()}}, Ref{KindIPAddressPool, "p"}, "spec.serviceAllocation.namespaces[0]", "not a namespace name", false},
		{"interface name too long", Resources{L2Advertisements: []v1beta1.L2Advertisement{func() v1beta1.L2Advertisement {
			a := l2("adv")
			a.Spec.Interfaces = []string{"a-very-long-interface-name"}
			return a
		}()}}, Ref{KindL2Advertisement, "adv"}, "spec.interfaces[0]", "not a Linux interface name", false},
		{"silenced-before selectors not JSON", Resources{L2Advertisements: []v1beta1.L2Advertisement{func() v1beta1.L2Advertisement {
			a := l2("adv")
			a.Annotations = map[string]string{AnnotationNodeSelectorsBefore: "{nope"}
			return a
		}()}}, Ref{KindL2Advertisement, "adv"}, "metadata.annotations[" + AnnotationNodeSelectorsBefore + "]", "not a JSON list of label selectors", false},
		{"silenced-before selector invalid", Resources{L2Advertisements: []v1beta1.L2Advertisement{func() v1beta1.L2Advertisement {
			a := l2("adv")
			a.Annotations = map[string]string{AnnotationNodeSelectorsBefore: `[{"matchExpressions":[{"key":"zone","operator":"Near"}]}]`}
			return a
		}()}}, Ref{KindL2Advertisement, "adv"}, "metadata.annotations[" + AnnotationNodeSelectorsBefore + "][0]", "invalid label selector", false},
		{"silenced speakers not namespace/name", Resources{L2Advertisements: []v1beta1.L2Advertisement{func() v1beta1.L2Advertisement {
			a := l2("adv")
			a.Annotations = map[string]string{AnnotationSilencedSpeakers: "metallb-system/metallb-speaker, speaker"}
			return a
		}()}}, Ref{KindL2Advertisement, "adv"}, "metadata.annotations[" + AnnotationSilencedSpeakers + "]", `"speaker" is not a speaker DaemonSet`, false},
		{"invalid community", Resources{BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
			s.Communities = []string{"65536:1"}
		})}}, Ref{KindBGPAdvertisement, "adv"}, "spec.communities[0]", "0 to 65535", false},
		{"unknown community alias", Resources{BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
			s.Communities = []string{"no-such-alias"}
		})}}, Ref{KindBGPAdvertisement, "adv"}, "spec.communities[0]", "neither a community value nor the name of an alias", true},
		{"invalid community alias value", Resources{Communities: []v1beta1.Community{{ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "x", Value: "large:1:2"}}}}}},
			Ref{KindCommunity, "c"}, "spec.communities[0].value", "invalid large community", false},
		{"aggregation length out of range", Resources{BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
			s.AggregationLength = ptr[int32](33)
		})}}, Ref{KindBGPAdvertisement, "adv"}, "spec.aggregationLength", "between 0 and 32", false},
		{"aggregation shorter than the pool's prefix", Resources{
			Pools: []v1beta1.IPAddressPool{ipPool("p", "10.0.0.0/28")},
			BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
				s.AggregationLength = ptr[int32](24)
			})}}, Ref{KindBGPAdvertisement, "adv"}, "spec.aggregationLength", "shorter than /28", false},
		{"aggregation shorter than a range's widest prefix", Resources{
			Pools: []v1beta1.IPAddressPool{ipPool("p", "10.0.0.8-10.0.0.31")},
			BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
				s.AggregationLength = ptr[int32](27)
			})}}, Ref{KindBGPAdvertisement, "adv"}, "spec.aggregationLength", "shorter than /28", false},
		{"duplicate peers", Resources{Peers: []v1beta2.BGPPeer{peer("a", nil), peer("b", nil)}},
			Ref{KindBGPPeer, "b"}, "spec.peerAddress", `BGPPeer "a" already peers with 10.0.0.1`, false},
		{"duplicate unnumbered peers", Resources{Peers: []v1beta2.BGPPeer{
			peer("a", func(s *v1beta2.BGPPeerSpec) { s.Address, s.Interface = "", "eth1" }),
			peer("other-link", func(s *v1beta2.BGPPeerSpec) { s.Address, s.Interface = "", "eth2" }),
			peer("b", func(s *v1beta2.BGPPeerSpec) { s.Address, s.Interface = "", "eth1" })}},
			Ref{KindBGPPeer, "b"}, "spec.interface", `BGPPeer "a" already peers with interface eth1`, false},
		{"peerASN and dynamicASN", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) { s.DynamicASN = v1beta2.ExternalASNMode })}},
			Ref{KindBGPPeer, "a"}, "spec.peerASN", "not both", false},
		{"unparsable peer address", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) { s.Address = "router.lan" })}},
			Ref{KindBGPPeer, "a"}, "spec.peerAddress", "not an IP address", false},
		{"hold time below 3s", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) { s.HoldTime = &metav1.Duration{Duration: time.Second} })}},
			Ref{KindBGPPeer, "a"}, "spec.holdTime", "at least 3s", false},
		{"keepalive above hold time", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) {
			s.HoldTime = &metav1.Duration{Duration: 9 * time.Second}
			s.KeepaliveTime = &metav1.Duration{Duration: 10 * time.Second}
		})}}, Ref{KindBGPPeer, "a"}, "spec.keepaliveTime", "must not exceed holdTime", false},
		// Found while writing FuzzParse's invariants: accepted, then
		// handed to GoBGP as unsigned seconds.
		{"negative keepalive", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) {
			s.KeepaliveTime = &metav1.Duration{Duration: -5 * time.Second}
		})}}, Ref{KindBGPPeer, "a"}, "spec.keepaliveTime", "must not be negative", false},
		{"password twice", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) {
			s.Password = "x"
			s.PasswordSecret.Name = "secret"
		})}}, Ref{KindBGPPeer, "a"}, "spec.passwordSecret", "not both", false},
		{"namespace listed twice", Resources{Pools: []v1beta1.IPAddressPool{func() v1beta1.IPAddressPool {
			p := ipPool("p", "10.0.0.0/24")
			p.Spec.ServiceAllocation = &v1beta1.ServiceAllocation{Namespaces: []string{"team-a", "team-b", "team-a"}}
			return p
		}()}}, Ref{KindIPAddressPool, "p"}, "spec.serviceAllocation.namespaces[2]", `"team-a" is listed twice`, false},
		{"eBGP multi-hop on an iBGP peer", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) {
			s.ASN, s.EBGPMultiHop = s.MyASN, true
		})}}, Ref{KindBGPPeer, "a"}, "spec.ebgpMultiHop", "iBGP", false},
		{"a selector written twice", Resources{L2Advertisements: []v1beta1.L2Advertisement{func() v1beta1.L2Advertisement {
			a := l2("adv")
			a.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "a"}}, {MatchLabels: map[string]string{"rack": "a"}}}
			return a
		}()}}, Ref{KindL2Advertisement, "adv"}, "spec.nodeSelectors[1]", "repeats spec.nodeSelectors[0]", false},
		{"a value written twice in an expression", Resources{Pools: []v1beta1.IPAddressPool{func() v1beta1.IPAddressPool {
			p := ipPool("p", "10.0.0.0/24")
			p.Spec.ServiceAllocation = &v1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api", "web"}}}}}}
			return p
		}()}}, Ref{KindIPAddressPool, "p"}, "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values[2]", `"web" is listed twice`, false},
		{"an expression written twice", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) {
			e := metav1.LabelSelectorRequirement{Key: "rack", Operator: metav1.LabelSelectorOpIn, Values: []string{"b", "a"}}
			f := metav1.LabelSelectorRequirement{Key: "rack", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}
			s.NodeSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{e, f}}}
		})}}, Ref{KindBGPPeer, "a"}, "spec.nodeSelectors[0].matchExpressions[1]", "repeats matchExpressions[0]", false},
		{"service selectors with aggregation", Resources{BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
			s.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "web"}}}
			s.AggregationLength = ptr[int32](24)
		})}}, Ref{KindBGPAdvertisement, "adv"}, "spec.aggregationLength", "cannot be set with serviceSelectors", false},
		{"BFD profile not created yet", Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) { s.BFDProfile = "fast" })}},
			Ref{KindBGPPeer, "a"}, "spec.bfdProfile", `BFDProfile "fast" does not exist`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.res)
			var invalid *InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("Parse = %v, want an InvalidError", err)
			}
			found := invalid.Involving(tt.wantObj)
			for _, p := range found {
				if p.Field == tt.wantField && strings.Contains(p.Msg, tt.wantMsg) {
					if p.Transient != tt.transient {
						t.Errorf("problem %q: transient = %v, want %v", p.Error(), p.Transient, tt.transient)
					}
					if !strings.Contains(p.Error(), tt.wantObj.Kind+` "`+tt.wantObj.Name+`"`) {
						t.Errorf("message %q does not name the object", p.Error())
					}
					return
				}
			}
			t.Errorf("no problem on %s field %s containing %q; got %v", tt.wantObj, tt.wantField, tt.wantMsg, err)
		})
	}
}

func TestParseWarnsAboutMissingReferences(t *testing.T) {
	cfg, warnings, err := Parse(Resources{
		Pools:             []v1beta1.IPAddressPool{ipPool("a", "10.0.0.0/24")},
		L2Advertisements:  []v1beta1.L2Advertisement{l2("adv", "a", "not-yet")},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAdv("b", func(s *v1beta1.BGPAdvertisementSpec) { s.Peers = []string{"tor"} })},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0].Error(), `IPAddressPool "not-yet" does not exist`) ||
		!strings.Contains(warnings[1].Error(), `BGPPeer "tor" does not exist`) {
		t.Errorf("warnings = %v", warnings)
	}
	if got := cfg.L2Advertisements[0].Pools; len(got) != 1 || got[0] != "a" {
		t.Errorf("pools of the advertisement = %v, want [a]", got)
	}
}

func TestAdvertisementPoolSelection(t *testing.T) {
	labelled := ipPool("labelled", "10.1.0.0/24")
	labelled.Labels = map[string]string{"tier": "gold"}
	pools := []v1beta1.IPAddressPool{ipPool("a", "10.0.0.0/24"), labelled}
	bySelector := l2("by-selector")
	bySelector.Spec.IPAddressPoolSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "gold"}}}
	cfg, _, err := Parse(Resources{Pools: pools, L2Advertisements: []v1beta1.L2Advertisement{l2("all"), bySelector}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.L2Advertisements[0].Pools; strings.Join(got, ",") != "a,labelled" {
		t.Errorf("no names and no selectors selects %v, want every pool", got)
	}
	if got := cfg.L2Advertisements[1].Pools; strings.Join(got, ",") != "labelled" {
		t.Errorf("selector selects %v, want [labelled]", got)
	}
}

func TestPeersForDisjointNodesAreNotDuplicates(t *testing.T) {
	rack := func(r string) func(*v1beta2.BGPPeerSpec) {
		return func(s *v1beta2.BGPPeerSpec) {
			s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": r}}}
		}
	}
	if _, _, err := Parse(Resources{Peers: []v1beta2.BGPPeer{peer("r1", rack("1")), peer("r2", rack("2"))}}); err != nil {
		t.Errorf("peers of the same router for different racks: %v", err)
	}
}

// TestLocalPrefWarnings: two local preferences for the same routes are
// admitted with a warning naming both advertisements; where the routes
// differ (aggregation length, peers) or the nodes may, nothing is said.
func TestLocalPrefWarnings(t *testing.T) {
	pools := []v1beta1.IPAddressPool{ipPool("p", "10.0.0.0/24", "fd00::/120")}
	base := bgpAdv("a", func(s *v1beta1.BGPAdvertisementSpec) { s.IPAddressPools, s.LocalPref = []string{"p"}, 100 })
	tests := []struct {
		name     string
		basePeer string
		other    func(*v1beta1.BGPAdvertisementSpec)
		warn     bool
	}{
		{"the same routes", "", func(*v1beta1.BGPAdvertisementSpec) {}, true},
		{"one family aggregated alike", "", func(s *v1beta1.BGPAdvertisementSpec) { s.AggregationLength = ptr[int32](24) }, true},
		{"both families aggregated differently", "", func(s *v1beta1.BGPAdvertisementSpec) {
			s.AggregationLength, s.AggregationLengthV6 = ptr[int32](24), ptr[int32](120)
		}, false},
		{"disjoint peers", "tor-a", func(s *v1beta1.BGPAdvertisementSpec) { s.Peers = []string{"tor-b"} }, false},
		{"node selectors", "", func(s *v1beta1.BGPAdvertisementSpec) {
			s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "b"}}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			if tt.basePeer != "" {
				a.Spec.Peers = []string{tt.basePeer}
			}
			b := bgpAdv("b", func(s *v1beta1.BGPAdvertisementSpec) {
				s.IPAddressPools, s.LocalPref = []string{"p"}, 200
				tt.other(s)
			})
			_, warnings, err := Parse(Resources{Pools: pools, BGPAdvertisements: []v1beta1.BGPAdvertisement{a, b}})
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			warned := slices.ContainsFunc(warnings, func(p Problem) bool {
				return p.Object == Ref{KindBGPAdvertisement, "b"} && p.Field == "spec.localPref" && strings.Contains(p.Msg, `BGPAdvertisement "a"'s 100`)
			})
			if warned != tt.warn {
				t.Errorf("warned %v, want %v: %v", warned, tt.warn, warnings)
			}
		})
	}
}

func TestParseCommunity(t *testing.T) {
	for in, want := range map[string]string{"65535:65282": "65535:65282", "0:0": "0:0", "large:1:2:3": "large:1:2:3", "large:4294967295:0:1": "large:4294967295:0:1"} {
		c, err := ParseCommunity(in)
		if err != nil || c.String() != want {
			t.Errorf("ParseCommunity(%q) = %v, %v", in, c, err)
		}
	}
	for _, bad := range []string{"", "1", "1:2:3", "a:b", "-1:2", "large:1:2", "large:1:2:4294967296", "65536:0"} {
		if _, err := ParseCommunity(bad); err == nil {
			t.Errorf("ParseCommunity(%q) accepted", bad)
		}
	}
}

func TestPoolToIPAMKeepsSelectors(t *testing.T) {
	p := ipPool("p", "10.0.0.0/24")
	p.Spec.AutoAssign = ptr(false)
	p.Spec.ServiceAllocation = &v1beta1.ServiceAllocation{Priority: 3, Namespaces: []string{"a"},
		ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}
	cfg, _, err := Parse(Resources{Pools: []v1beta1.IPAddressPool{p}})
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.IPAMPools()[0]
	if got.AutoAssign || got.Priority != 3 || len(got.ServiceSelectors) != 1 ||
		!got.ServiceSelectors[0].Matches(map[string]string{"x": "y"}) || got.ServiceSelectors[0].Matches(nil) {
		t.Errorf("ipam pool = %+v", got)
	}
	if !MatchesAny(nil, labels.Set{}) {
		t.Error("no selectors must match everything")
	}
}

// TestProblemsBlameTheNewerObject: whatever order the objects are listed
// in, an overlap is reported on the pool created last.
func TestProblemsBlameTheNewerObject(t *testing.T) {
	old := ipPool("old", "10.0.0.0/24")
	old.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	young := ipPool("a-young", "10.0.0.128/25")
	young.CreationTimestamp = metav1.NewTime(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	for _, order := range [][]v1beta1.IPAddressPool{{old, young}, {young, old}} {
		_, _, err := Parse(Resources{Pools: order})
		var invalid *InvalidError
		if !errors.As(err, &invalid) || len(invalid.Problems) != 1 || invalid.Problems[0].Object.Name != "a-young" {
			t.Errorf("order %s,%s: %v, want the overlap reported on a-young", order[0].Name, order[1].Name, err)
		}
	}
}

// TestPeerTimersAsMetalLB: the hold and keepalive times MetalLB derives
// from what a BGPPeer sets, and a hold of 0 (which the speaker refuses)
// admitted with a warning.
func TestPeerTimersAsMetalLB(t *testing.T) {
	sec := func(n float64) *metav1.Duration {
		return &metav1.Duration{Duration: time.Duration(n * float64(time.Second))}
	}
	for _, tc := range []struct {
		name          string
		hold, ka      *metav1.Duration
		wantHold      time.Duration
		wantKeepalive time.Duration
		noHoldTimer   bool
	}{
		{"neither: the speaker's defaults", nil, nil, 0, 0, false},
		{"hold alone: a third of it", sec(90), nil, 90 * time.Second, 30 * time.Second, false},
		{"keepalive alone: three of them", nil, sec(10), 30 * time.Second, 10 * time.Second, false},
		{"both", sec(9), sec(3), 9 * time.Second, 3 * time.Second, false},
		{"hold 0: no hold timer", sec(0), nil, 0, 0, true},
		{"keepalive 0 alone: hold 0", nil, sec(0), 0, 0, true},
		{"hold under a second counts as 0, as MetalLB rounds it", sec(0.5), nil, 0, 0, true},
		{"hold 3.5s: whole seconds are 3", sec(3.5), nil, 3500 * time.Millisecond, 3500 * time.Millisecond / 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := Parse(Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) {
				s.HoldTime, s.KeepaliveTime = tc.hold, tc.ka
			})}})
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Peers["a"]
			if p.HoldTime != tc.wantHold || p.KeepaliveTime != tc.wantKeepalive || p.NoHoldTimer != tc.noHoldTimer {
				t.Errorf("hold %s, keepalive %s, no hold timer %v; want %s, %s, %v", p.HoldTime, p.KeepaliveTime, p.NoHoldTimer,
					tc.wantHold, tc.wantKeepalive, tc.noHoldTimer)
			}
			warned := slices.ContainsFunc(warnings, func(w Problem) bool { return strings.Contains(w.Msg, "hold time of 0") })
			if warned != tc.noHoldTimer {
				t.Errorf("warnings %v; a hold of 0 is warned about, nothing else", warnings)
			}
		})
	}
}

// TestPeerLocalASN: localASN reaches the validated peer.
func TestPeerLocalASN(t *testing.T) {
	cfg, _, err := Parse(Resources{Peers: []v1beta2.BGPPeer{peer("a", func(s *v1beta2.BGPPeerSpec) { s.LocalASN = 64999 })}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Peers["a"].LocalASN; got != 64999 {
		t.Errorf("LocalASN %d, want 64999", got)
	}
}
