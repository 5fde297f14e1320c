package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/ipam"
)

// Kinds, as problems name them.
const (
	KindIPAddressPool    = "IPAddressPool"
	KindL2Advertisement  = "L2Advertisement"
	KindBGPAdvertisement = "BGPAdvertisement"
	KindBGPPeer          = "BGPPeer"
	KindCommunity        = "Community"
	KindBFDProfile       = "BFDProfile"
)

// Resources are the configuration objects of IronLB's namespace, as read
// from the API.
type Resources struct {
	Pools             []v1beta1.IPAddressPool
	L2Advertisements  []v1beta1.L2Advertisement
	BGPAdvertisements []v1beta1.BGPAdvertisement
	Peers             []v1beta2.BGPPeer
	Communities       []v1beta1.Community
	BFDProfiles       []v1beta1.BFDProfile
}

// Config is a validated configuration. It is never modified after Parse.
type Config struct {
	// Pools by name.
	Pools map[string]*Pool
	// PoolOrder is the pool names, sorted.
	PoolOrder         []string
	L2Advertisements  []*L2Advertisement
	BGPAdvertisements []*BGPAdvertisement
	Peers             map[string]*Peer
	BFDProfiles       map[string]*BFDProfile
}

// Pool is a validated IPAddressPool.
type Pool struct {
	Name          string
	Labels        labels.Set
	Ranges        []ipam.Range
	AutoAssign    bool
	AvoidBuggyIPs bool
	// Priority orders auto-assignment, lower first; 0 means none.
	Priority           int
	Namespaces         []string
	NamespaceSelectors []labels.Selector
	ServiceSelectors   []labels.Selector
}

// IPAM returns the pool as the allocator sees it.
func (p *Pool) IPAM() ipam.Pool {
	return ipam.Pool{
		Name: p.Name, Ranges: p.Ranges, AutoAssign: p.AutoAssign, AvoidBuggyIPs: p.AvoidBuggyIPs,
		Priority: p.Priority, Namespaces: p.Namespaces,
		NamespaceSelectors: adaptSelectors(p.NamespaceSelectors),
		ServiceSelectors:   adaptSelectors(p.ServiceSelectors),
	}
}

// Contains reports whether ip is in the pool.
func (p *Pool) Contains(ip netip.Addr) bool {
	return slices.ContainsFunc(p.Ranges, func(r ipam.Range) bool { return r.Contains(ip) })
}

// IPAMPools returns every pool as the allocator sees it, sorted by name.
func (c *Config) IPAMPools() []ipam.Pool {
	out := make([]ipam.Pool, 0, len(c.PoolOrder))
	for _, name := range c.PoolOrder {
		out = append(out, c.Pools[name].IPAM())
	}
	return out
}

// PoolFor returns the pool containing ip, or nil.
func (c *Config) PoolFor(ip netip.Addr) *Pool {
	for _, name := range c.PoolOrder {
		if p := c.Pools[name]; p.Contains(ip) {
			return p
		}
	}
	return nil
}

// L2Advertisement is a validated L2Advertisement with its pools resolved.
type L2Advertisement struct {
	Name             string
	Pools            []string
	NodeSelectors    []labels.Selector
	ServiceSelectors []labels.Selector
	Interfaces       []string
	PreferredNodes   []WeightedSelector
}

// WeightedSelector is a node preference.
type WeightedSelector struct {
	Weight   int64
	Selector labels.Selector
}

// PreferredWeight sums the weights of the preferences a node matches.
func (a *L2Advertisement) PreferredWeight(node labels.Labels) int64 {
	var w int64
	for _, p := range a.PreferredNodes {
		if p.Selector.Matches(node) {
			w += p.Weight
		}
	}
	return w
}

// BGPAdvertisement is a validated BGPAdvertisement with its pools and
// community aliases resolved.
type BGPAdvertisement struct {
	Name                string
	Pools               []string
	AggregationLength   int
	AggregationLengthV6 int
	LocalPref           uint32
	Communities         []Community
	Peers               []string
	NodeSelectors       []labels.Selector
	ServiceSelectors    []labels.Selector
}

// Peer is a validated BGPPeer.
type Peer struct {
	Name       string
	MyASN      uint32
	ASN        uint32
	DynamicASN v1beta2.DynamicASNMode
	Address    netip.Addr
	Interface  string
	SrcAddress netip.Addr
	Port       uint16
	// LocalASN, when set, is the AS this node presents to the peer instead
	// of MyASN (FRR's local-as … no-prepend replace-as, as MetalLB's FRR
	// mode configures it).
	LocalASN uint32
	// HoldTime and KeepaliveTime as MetalLB derives them: a keepalive alone
	// gives a hold of three keepalives, a hold alone a keepalive of a
	// third; zero for both when neither is set (the speaker's defaults).
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	// NoHoldTimer: holdTime was set to 0, which in BGP means no hold timer
	// and no keepalives.
	NoHoldTimer   bool
	ConnectTime   time.Duration
	RouterID      netip.Addr
	NodeSelectors []labels.Selector
	// Password is set inline; PasswordSecret names a Secret holding it.
	Password              string
	PasswordSecret        string
	BFDProfile            string
	EnableGracefulRestart bool
	EBGPMultiHop          bool
	VRF                   string
	// DualStackAddressFamily: the session carries IPv4 and IPv6 unicast;
	// otherwise only its peer address's family. Sessions on an Interface
	// (unnumbered, over IPv6 link-local) carry both.
	DualStackAddressFamily bool
}

// BFDProfile is a validated BFDProfile.
type BFDProfile struct {
	Name string
	Spec v1beta1.BFDProfileSpec
}

// Parse validates the objects and returns the configuration and the
// warnings (references that may be dangling only because of arrival order).
// On any error it returns an *InvalidError listing every problem found.
func Parse(r Resources) (*Config, []Problem, error) {
	r = sorted(r)
	var ps problems
	cfg := &Config{
		Pools:       map[string]*Pool{},
		Peers:       map[string]*Peer{},
		BFDProfiles: map[string]*BFDProfile{},
	}
	parsePools(&ps, cfg, r.Pools)
	for i := range r.BFDProfiles {
		b := &r.BFDProfiles[i]
		cfg.BFDProfiles[b.Name] = &BFDProfile{Name: b.Name, Spec: b.Spec}
	}
	aliases := parseCommunities(&ps, r.Communities)
	parsePeers(&ps, cfg, r.Peers)
	parseL2Advertisements(&ps, cfg, r.Pools, r.L2Advertisements)
	parseBGPAdvertisements(&ps, cfg, r.Pools, r.BGPAdvertisements, aliases)
	if len(ps.errs) > 0 {
		return nil, ps.warnings, &InvalidError{Problems: ps.errs}
	}
	return cfg, ps.warnings, nil
}

// selectors converts label selectors, reporting each invalid one, and each
// written twice (a repeated selector, expression or value), as MetalLB's
// webhook does.
func selectors(ps *problems, obj Ref, field string, in []metav1.LabelSelector) []labels.Selector {
	out := make([]labels.Selector, 0, len(in))
	seen := map[string]int{}
	for i := range in {
		canonical := in[i].DeepCopy()
		for k := range canonical.MatchExpressions {
			e := &canonical.MatchExpressions[k]
			for j, v := range e.Values {
				if slices.Index(e.Values, v) < j {
					ps.add(obj, fmt.Sprintf("%s.matchExpressions[%d].values[%d]", indexed(field, i), k, j), "%q is listed twice", v)
				}
			}
			slices.Sort(e.Values)
		}
		for k := range canonical.MatchExpressions {
			for j := range k {
				if canonical.MatchExpressions[j].String() == canonical.MatchExpressions[k].String() {
					ps.add(obj, fmt.Sprintf("%s.matchExpressions[%d]", indexed(field, i), k), "repeats matchExpressions[%d]", j)
					break
				}
			}
		}
		if prev, dup := seen[canonical.String()]; dup {
			ps.add(obj, indexed(field, i), "repeats %s (entry %d)", indexed(field, prev), prev)
		} else {
			seen[canonical.String()] = i
		}
		sel, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			ps.add(obj, indexed(field, i), "invalid label selector: %v", err)
			continue
		}
		out = append(out, sel)
	}
	return out
}

// MatchesAny reports whether the labels match any selector; no selectors
// match everything.
func MatchesAny(sels []labels.Selector, l labels.Labels) bool {
	if len(sels) == 0 {
		return true
	}
	for _, s := range sels {
		if s.Matches(l) {
			return true
		}
	}
	return false
}

type selectorAdapter struct{ labels.Selector }

func (s selectorAdapter) Matches(l ipam.Labels) bool { return s.Selector.Matches(labels.Set(l)) }

func adaptSelectors(in []labels.Selector) []ipam.Selector {
	out := make([]ipam.Selector, len(in))
	for i, s := range in {
		out[i] = selectorAdapter{s}
	}
	return out
}

// sorted orders each kind oldest first, then by name, so that a conflict
// is always reported on the newer object, whatever order a cache lists
// them in.
func sorted(r Resources) Resources {
	r.Pools = sortObjects(r.Pools)
	r.L2Advertisements = sortObjects(r.L2Advertisements)
	r.BGPAdvertisements = sortObjects(r.BGPAdvertisements)
	r.Peers = sortObjects(r.Peers)
	r.Communities = sortObjects(r.Communities)
	r.BFDProfiles = sortObjects(r.BFDProfiles)
	return r
}

type object[T any] interface {
	*T
	GetName() string
	GetCreationTimestamp() metav1.Time
}

func sortObjects[T any, PT object[T]](in []T) []T {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b T) int {
		ta, tb := PT(&a).GetCreationTimestamp(), PT(&b).GetCreationTimestamp()
		if c := ta.Compare(tb.Time); c != 0 {
			return c
		}
		return strings.Compare(PT(&a).GetName(), PT(&b).GetName())
	})
	return out
}
