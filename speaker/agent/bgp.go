package agent

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// BGP is what this node should do over BGP. Unlike layer 2 there is no
// election: every node that may advertise a Service does, and the router
// spreads the traffic over them (ECMP). So the answer depends only on this
// node, the configuration and the Services, never on the other members.
//
// Sessions are the BGPPeers whose node selectors match this node (none:
// every node), except peers naming a VRF, which this speaker cannot keep
// (the configuration watch reports them). A session carries the paths of
// its own family only, unless it sets dualStackAddressFamily or is
// unnumbered (Session.Carries), as MetalLB's FRR mode activates address
// families. A Service is advertised when it
// has a ready endpoint (externalTrafficPolicy Cluster) or a ready endpoint
// on this node (Local), and this node is not excluded. Each of its IPs is
// advertised by every BGPAdvertisement whose pools contain the IP and
// whose service and node selectors match, masked to the advertisement's
// aggregation length, on the advertisement's peers (none: every session).
//
// One prefix reaches a peer once, whatever number of advertisements and
// Services lead to it: their communities are joined and the highest
// localPref wins, since a router keeps one path per neighbour and prefix
// and the most preferred request is the one an operator wrote it for
// (speaker/bgp merges the same way). Peers that end up with the same
// prefix, attributes and Services share one Path. The output is sorted,
// so equal states give equal values.
//
// Before this node's Node is known its labels are not, so it does nothing.
func (a *Agent) BGP() bgpspec.Desired {
	me, known := a.nodes[a.me]
	if a.cfg == nil || !known {
		return bgpspec.Desired{}
	}
	var d bgpspec.Desired
	sessions := map[string]bool{}
	byName := map[string]bgpspec.Session{}
	for _, name := range sortedPeerNames(a.cfg.Peers) {
		p := a.cfg.Peers[name]
		if p.VRF != "" || !config.MatchesAny(p.NodeSelectors, labels.Set(me.Labels)) {
			continue
		}
		sessions[name] = true
		s := session(p, a.cfg.BFDProfiles[p.BFDProfile])
		byName[name] = s
		d.Sessions = append(d.Sessions, s)
	}
	if len(sessions) == 0 || me.Excluded {
		return d
	}
	type key struct {
		prefix netip.Prefix
		peer   string
	}
	type attrs struct {
		localPref   uint32
		communities []config.Community
		services    []string
	}
	merged := map[key]*attrs{}
	var advs []*config.BGPAdvertisement
	for _, adv := range a.cfg.BGPAdvertisements {
		if config.MatchesAny(adv.NodeSelectors, labels.Set(me.Labels)) {
			advs = append(advs, adv)
		}
	}
	for _, s := range a.services {
		if !a.advertisable(s) {
			continue
		}
		for _, ip := range s.IPs {
			pool := a.cfg.PoolFor(ip)
			if pool == nil {
				continue
			}
			for _, adv := range advs {
				if !slices.Contains(adv.Pools, pool.Name) || !config.MatchesAny(adv.ServiceSelectors, labels.Set(s.Labels)) {
					continue
				}
				bits := adv.AggregationLength
				if ip.Is6() {
					bits = adv.AggregationLengthV6
				}
				prefix, err := ip.Prefix(bits)
				if err != nil {
					continue // validated lengths: cannot happen
				}
				for _, peer := range advPeers(adv, sessions) {
					if !byName[peer].Carries(ip) {
						continue // an IPv6 VIP on an IPv4-only session, or the reverse
					}
					k := key{prefix, peer}
					m := merged[k]
					if m == nil {
						m = &attrs{}
						merged[k] = m
					}
					m.localPref = max(m.localPref, adv.LocalPref)
					m.communities = append(m.communities, adv.Communities...)
					m.services = append(m.services, s.Key)
				}
			}
		}
	}
	// Group the peers that get the same path.
	byPath := map[string]*bgpspec.Path{}
	for k, m := range merged {
		slices.Sort(m.services)
		p := bgpspec.Path{Prefix: k.prefix, Services: slices.Compact(m.services), LocalPref: m.localPref,
			Communities: sortedCommunities(m.communities)}
		id := pathID(p)
		if g, ok := byPath[id]; ok {
			g.Peers = append(g.Peers, k.peer)
			continue
		}
		p.Peers = []string{k.peer}
		byPath[id] = &p
	}
	for _, p := range byPath {
		slices.Sort(p.Peers)
		d.Paths = append(d.Paths, *p)
	}
	slices.SortFunc(d.Paths, func(x, y bgpspec.Path) int {
		if c := x.Prefix.Addr().Compare(y.Prefix.Addr()); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Prefix.Bits(), y.Prefix.Bits()); c != 0 {
			return c
		}
		return strings.Compare(pathID(x), pathID(y))
	})
	return d
}

// advertisable: the Service has somewhere to send the traffic this node
// would attract. With Cluster any ready endpoint will do, kube-proxy
// forwards; with Local only one on this node, or the packets are dropped.
func (a *Agent) advertisable(s Service) bool {
	if len(s.ReadyNodes) == 0 {
		return false
	}
	return !s.Local || slices.Contains(s.ReadyNodes, a.me)
}

// advPeers are the sessions of this node the advertisement sends on.
func advPeers(adv *config.BGPAdvertisement, sessions map[string]bool) []string {
	if len(adv.Peers) == 0 {
		out := make([]string, 0, len(sessions))
		for p := range sessions {
			out = append(out, p)
		}
		return out
	}
	var out []string
	for _, p := range adv.Peers {
		if sessions[p] {
			out = append(out, p)
		}
	}
	return out
}

func session(p *config.Peer, bfd *config.BFDProfile) bgpspec.Session {
	s := bgpspec.Session{
		Peer: p.Name, MyASN: p.MyASN, PeerASN: p.ASN, LocalASN: p.LocalASN, DynamicASN: string(p.DynamicASN),
		Address: p.Address, Interface: p.Interface, DualStack: p.DualStackAddressFamily,
		Port: p.Port, SourceAddress: p.SrcAddress, RouterID: p.RouterID,
		HoldTime: p.HoldTime, KeepaliveTime: p.KeepaliveTime, NoHoldTimer: p.NoHoldTimer, ConnectTime: p.ConnectTime,
		Password: p.Password, EBGPMultiHop: p.EBGPMultiHop, EnableGracefulRestart: p.EnableGracefulRestart,
		BFDProfile: p.BFDProfile,
	}
	if bfd != nil {
		s.BFD = bfdSettings(bfd.Spec)
	}
	return s
}

// bfdSettings is a BFDProfile with MetalLB's defaults where it is silent;
// the webhook keeps every field within its range.
func bfdSettings(spec v1beta1.BFDProfileSpec) bgpspec.BFD {
	ms := func(v *uint32, def time.Duration) time.Duration {
		if v == nil {
			return def
		}
		return time.Duration(*v) * time.Millisecond
	}
	u8 := func(v *uint32, def uint8) uint8 {
		if v == nil {
			return def
		}
		return uint8(min(*v, 255))
	}
	return bgpspec.BFD{
		ReceiveInterval:  ms(spec.ReceiveInterval, bgpspec.DefaultBFDInterval),
		TransmitInterval: ms(spec.TransmitInterval, bgpspec.DefaultBFDInterval),
		EchoInterval:     ms(spec.EchoInterval, bgpspec.DefaultBFDEcho),
		DetectMultiplier: u8(spec.DetectMultiplier, bgpspec.DefaultBFDMultiplier),
		MinimumTTL:       u8(spec.MinimumTTL, bgpspec.DefaultBFDMinimumTTL),
		EchoMode:         spec.EchoMode != nil && *spec.EchoMode,
		PassiveMode:      spec.PassiveMode != nil && *spec.PassiveMode,
	}
}

func sortedPeerNames(m map[string]*config.Peer) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sortedCommunities removes duplicates and orders by their text, which is
// unique per value.
func sortedCommunities(cs []config.Community) []config.Community {
	if len(cs) == 0 {
		return nil
	}
	out := slices.Clone(cs)
	slices.SortFunc(out, func(x, y config.Community) int { return strings.Compare(x.String(), y.String()) })
	return slices.Compact(out)
}

// pathID names a path's prefix, attributes and Services, not its peers.
func pathID(p bgpspec.Path) string {
	var b strings.Builder
	b.WriteString(p.Prefix.String())
	b.WriteString("|")
	b.WriteString(strings.Join(p.Services, ","))
	b.WriteString("|")
	b.WriteString(strconv.FormatUint(uint64(p.LocalPref), 10))
	for _, c := range p.Communities {
		b.WriteString("|")
		b.WriteString(c.String())
	}
	return b.String()
}
