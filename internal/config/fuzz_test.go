package config

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/ipam"
)

// fuzzInput is one configuration built from fuzzed field values: two
// pools, an L2 and a BGP advertisement, a Community and a BGPPeer. The
// object names are fixed so that every problem can be checked to name an
// object that exists; the references between objects are fuzzed.
type fuzzInput struct {
	Addr1, Addr2, Addr3 string // pool a has Addr1 and Addr2, pool b Addr3
	Namespace           string
	SelKey, SelOp       string
	SelValue            string
	PoolRef             string
	Interface           string
	AggLen, AggLenV6    int32
	Community           string
	AliasName, AliasVal string
	MyASN, ASN          uint32
	Dynamic             string
	PeerAddr, RouterID  string
	SrcAddr, BFD        string
	Hold, Keepalive     int64
	Connect             int64
	Password, SecretRef string
	Port                uint16
}

func (in fuzzInput) resources() Resources {
	sel := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: in.SelKey, Operator: metav1.LabelSelectorOperator(in.SelOp), Values: []string{in.SelValue}}}}
	a := ipPool("a", in.Addr1, in.Addr2)
	a.Spec.ServiceAllocation = &v1beta1.ServiceAllocation{Namespaces: []string{in.Namespace}, NamespaceSelectors: []metav1.LabelSelector{sel}}
	a.Labels = map[string]string{"tier": in.SelValue}
	b := ipPool("b", in.Addr3)
	adv := l2("l2", in.PoolRef)
	adv.Spec.Interfaces = []string{in.Interface}
	adv.Spec.IPAddressPoolSelectors = []metav1.LabelSelector{sel}
	bgp := bgpAdv("bgp", func(s *v1beta1.BGPAdvertisementSpec) {
		s.IPAddressPools = []string{in.PoolRef}
		s.AggregationLength, s.AggregationLengthV6 = &in.AggLen, &in.AggLenV6
		s.Communities = []string{in.Community}
		s.Peers = []string{"peer"}
	})
	comm := v1beta1.Community{ObjectMeta: metav1.ObjectMeta{Name: "comm"},
		Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: in.AliasName, Value: in.AliasVal}}}}
	p := peer("peer", func(s *v1beta2.BGPPeerSpec) {
		s.MyASN, s.ASN, s.DynamicASN = in.MyASN, in.ASN, v1beta2.DynamicASNMode(in.Dynamic)
		s.Address, s.RouterID, s.SrcAddress, s.BFDProfile = in.PeerAddr, in.RouterID, in.SrcAddr, in.BFD
		s.HoldTime = &metav1.Duration{Duration: time.Duration(in.Hold)}
		s.KeepaliveTime = &metav1.Duration{Duration: time.Duration(in.Keepalive)}
		s.ConnectTime = &metav1.Duration{Duration: time.Duration(in.Connect)}
		s.Password, s.PasswordSecret.Name, s.Port = in.Password, in.SecretRef, in.Port
		s.NodeSelectors = []metav1.LabelSelector{sel}
	})
	return Resources{
		Pools: []v1beta1.IPAddressPool{a, b}, L2Advertisements: []v1beta1.L2Advertisement{adv},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{bgp}, Communities: []v1beta1.Community{comm},
		Peers: []v1beta2.BGPPeer{p},
	}
}

// fuzzObjects are the objects fuzzInput.resources creates.
var fuzzObjects = []Ref{{KindIPAddressPool, "a"}, {KindIPAddressPool, "b"}, {KindL2Advertisement, "l2"},
	{KindBGPAdvertisement, "bgp"}, {KindCommunity, "comm"}, {KindBGPPeer, "peer"}}

// fuzzSeeds are the table tests' values, as fuzzInputs.
var fuzzSeeds = []fuzzInput{
	{Addr1: "172.20.255.200-172.20.255.250", Addr2: "10.0.0.0/24", Addr3: "fd00::/120", Namespace: "default", SelKey: "team", SelOp: "In",
		SelValue: "gold", PoolRef: "a", Interface: "eth0", AggLen: 32, AggLenV6: 128, Community: "65535:65282", AliasName: "no-advertise",
		AliasVal: "65535:65282", MyASN: 64512, ASN: 64500, PeerAddr: "10.0.0.1", RouterID: "10.0.0.2", Hold: int64(90 * time.Second),
		Keepalive: int64(30 * time.Second), Connect: int64(10 * time.Second), Port: 179},
	{Addr1: "10.0.0.300/24", Addr2: "10.0.0.9-10.0.0.1", Addr3: "10.0.0.1-fd00::1", Namespace: "Team_A", SelKey: "team", SelOp: "Near",
		PoolRef: "not-yet", Interface: "a-very-long-interface-name", AggLen: 33, AggLenV6: -1, Community: "65536:1", AliasName: "x",
		AliasVal: "large:1:2", ASN: 64500, Dynamic: "external", PeerAddr: "router.lan", RouterID: "fd00::1", Hold: int64(time.Second),
		Keepalive: int64(10 * time.Second), Password: "x", SecretRef: "secret", BFD: "fast"},
	{Addr1: "10.0.0.0/28", Addr2: "10.0.0.128-10.0.1.5", Addr3: "10.0.0.200-10.0.0.210", SelOp: "Exists", PoolRef: "b", AggLen: 24,
		AggLenV6: 64, Community: "no-advertise", AliasName: "no-advertise", AliasVal: "large:1:2:3", MyASN: 1, Dynamic: "internal",
		SrcAddr: "fe80::1%eth0", Hold: 0, Keepalive: -int64(time.Second), Connect: -1},
	// seed 0 with a negative keepalive, otherwise valid
	{Addr1: "172.20.255.200-172.20.255.250", Addr2: "10.0.0.0/24", Addr3: "fd00::/120", Namespace: "default", SelKey: "team", SelOp: "In",
		SelValue: "gold", PoolRef: "a", Interface: "eth0", AggLen: 32, AggLenV6: 128, Community: "65535:65282", AliasName: "no-advertise",
		AliasVal: "65535:65282", MyASN: 64512, ASN: 64500, PeerAddr: "10.0.0.1", RouterID: "10.0.0.2", Hold: int64(90 * time.Second),
		Keepalive: -int64(5 * time.Second), Connect: int64(10 * time.Second), Port: 179},
	{Addr1: "10.0.0.8-10.0.0.31", Addr2: "", Addr3: "::/80", AggLen: 27, AggLenV6: 128, Community: "large:4294967295:0:1", MyASN: 64512,
		ASN: 64500, PeerAddr: "::1", Hold: int64(3 * time.Second), Keepalive: int64(3 * time.Second)},
}

func fuzzAdd(f *testing.F, in fuzzInput) {
	f.Add(in.Addr1, in.Addr2, in.Addr3, in.Namespace, in.SelKey, in.SelOp, in.SelValue, in.PoolRef, in.Interface,
		in.AggLen, in.AggLenV6, in.Community, in.AliasName, in.AliasVal, in.MyASN, in.ASN, in.Dynamic, in.PeerAddr,
		in.RouterID, in.SrcAddr, in.BFD, in.Hold, in.Keepalive, in.Connect, in.Password, in.SecretRef, in.Port)
}

// FuzzParse feeds arbitrary field values into every kind of object:
// Parse never panics, gives the same answer whatever order the objects
// come in, and either refuses with problems that each name an object it
// was given, or returns a configuration that holds the invariants the
// controller and the speakers rely on (checkConfig).
func FuzzParse(f *testing.F) {
	for _, in := range fuzzSeeds {
		fuzzAdd(f, in)
	}
	f.Fuzz(func(t *testing.T, addr1, addr2, addr3, ns, selKey, selOp, selValue, poolRef, ifName string,
		aggLen, aggLenV6 int32, community, aliasName, aliasVal string, myASN, asn uint32, dynamic, peerAddr,
		routerID, srcAddr, bfd string, hold, keepalive, connect int64, password, secretRef string, port uint16) {
		in := fuzzInput{addr1, addr2, addr3, ns, selKey, selOp, selValue, poolRef, ifName, aggLen, aggLenV6, community,
			aliasName, aliasVal, myASN, asn, dynamic, peerAddr, routerID, srcAddr, bfd, hold, keepalive, connect, password, secretRef, port}
		checkParse(t, in.resources())
	})
}

func checkParse(t *testing.T, r Resources) {
	t.Helper()
	cfg, _, err := Parse(r)
	// The cache may list objects in any order.
	rev := r
	rev.Pools = slices.Clone(r.Pools)
	slices.Reverse(rev.Pools)
	cfg2, _, err2 := Parse(rev)
	if fmt.Sprint(err) != fmt.Sprint(err2) || (cfg == nil) != (cfg2 == nil) {
		t.Fatalf("the order of the pools changes the answer:\n%v\n%v", err, err2)
	}
	if err != nil {
		var invalid *InvalidError
		if !errors.As(err, &invalid) || len(invalid.Problems) == 0 {
			t.Fatalf("Parse = %v, want an InvalidError with problems", err)
		}
		for _, p := range invalid.Problems {
			for _, ref := range append([]Ref{p.Object}, p.Others...) {
				if !slices.Contains(fuzzObjects, ref) {
					t.Fatalf("problem %q names %s, which was not given", p.Error(), ref)
				}
			}
			if p.Msg == "" {
				t.Fatalf("problem on %s has no message", p.Object)
			}
		}
		return
	}
	checkConfig(t, cfg)
}

// checkConfig asserts what a valid configuration promises.
func checkConfig(t *testing.T, cfg *Config) {
	t.Helper()
	type owned struct {
		r    ipam.Range
		pool string
	}
	var all []owned
	for _, name := range cfg.PoolOrder {
		p := cfg.Pools[name]
		if len(p.Ranges) == 0 {
			t.Fatalf("pool %s has no ranges", name)
		}
		for _, r := range p.Ranges {
			if !r.First.IsValid() || r.First.BitLen() != r.Last.BitLen() || r.Last.Less(r.First) || r.First.Zone() != "" || r.First.Is4In6() {
				t.Fatalf("pool %s has an invalid range %v", name, r)
			}
			for _, o := range all {
				if o.r.Overlaps(r) {
					t.Fatalf("%s of pool %s overlaps %s of pool %s", r, name, o.r, o.pool)
				}
			}
			all = append(all, owned{r, name})
		}
	}
	for _, a := range cfg.L2Advertisements {
		for _, n := range a.Pools {
			if cfg.Pools[n] == nil {
				t.Fatalf("L2Advertisement %s selects missing pool %q", a.Name, n)
			}
		}
		for _, i := range a.Interfaces {
			if i == "" || len(i) > maxInterfaceName {
				t.Fatalf("L2Advertisement %s has interface %q", a.Name, i)
			}
		}
	}
	for _, a := range cfg.BGPAdvertisements {
		if a.AggregationLength < 0 || a.AggregationLength > 32 || a.AggregationLengthV6 < 0 || a.AggregationLengthV6 > 128 {
			t.Fatalf("BGPAdvertisement %s aggregation /%d, /%d", a.Name, a.AggregationLength, a.AggregationLengthV6)
		}
		for _, n := range a.Pools {
			p := cfg.Pools[n]
			if p == nil {
				t.Fatalf("BGPAdvertisement %s selects missing pool %q", a.Name, n)
			}
			for _, r := range p.Ranges {
				agg := a.AggregationLength
				if r.Family() == ipam.IPv6 {
					agg = a.AggregationLengthV6
				}
				if agg < shortestPrefix(r) {
					t.Fatalf("BGPAdvertisement %s aggregates %s to /%d", a.Name, r, agg)
				}
			}
		}
	}
	for name, p := range cfg.Peers {
		switch {
		case p.MyASN == 0:
			t.Fatalf("peer %s without myASN", name)
		case (p.ASN == 0) == (p.DynamicASN == ""):
			t.Fatalf("peer %s: ASN %d, dynamic %q", name, p.ASN, p.DynamicASN)
		case p.Address.IsValid() == (p.Interface != ""):
			t.Fatalf("peer %s: address %v, interface %q", name, p.Address, p.Interface)
		case p.Port == 0:
			t.Fatalf("peer %s: port 0", name)
		// dynamicASN's values and connectTime's range are the CRD schema's
		// (enum, CEL); Parse never sees others.
		case p.HoldTime < 0 || (p.HoldTime > 0 && p.HoldTime < minHoldTime) || p.KeepaliveTime < 0:
			t.Fatalf("peer %s: hold %s, keepalive %s", name, p.HoldTime, p.KeepaliveTime)
		case p.HoldTime > 0 && p.KeepaliveTime > p.HoldTime:
			t.Fatalf("peer %s: keepalive %s above hold %s", name, p.KeepaliveTime, p.HoldTime)
		case p.RouterID.IsValid() && !p.RouterID.Is4():
			t.Fatalf("peer %s: router ID %s", name, p.RouterID)
		case p.Password != "" && p.PasswordSecret != "":
			t.Fatalf("peer %s: password and secret", name)
		}
	}
}

func TestParseSeedsHoldInvariants(t *testing.T) {
	for i, in := range fuzzSeeds {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkParse(t, in.resources()) })
	}
}
