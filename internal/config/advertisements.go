package config

import (
	"net/netip"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipam"
)

// maxInterfaceName is IFNAMSIZ-1: Linux interface names are at most 15 bytes.
const maxInterfaceName = 15

func parseL2Advertisements(ps *problems, cfg *Config, pools []v1beta1.IPAddressPool, in []v1beta1.L2Advertisement) {
	for i := range in {
		adv := &in[i]
		ref := Ref{KindL2Advertisement, adv.Name}
		checkSilence(ps, adv)
		if before, ok, err := NodeSelectorsBefore(adv); ok && err == nil {
			selectors(ps, ref, "metadata.annotations["+AnnotationNodeSelectorsBefore+"]", before)
		}
		poolSels := selectors(ps, ref, "spec.ipAddressPoolSelectors", adv.Spec.IPAddressPoolSelectors)
		out := &L2Advertisement{
			Name:             adv.Name,
			Pools:            selectedPools(ps, ref, pools, adv.Spec.IPAddressPools, poolSels),
			NodeSelectors:    selectors(ps, ref, "spec.nodeSelectors", adv.Spec.NodeSelectors),
			ServiceSelectors: selectors(ps, ref, "spec.serviceSelectors", adv.Spec.ServiceSelectors),
			Interfaces:       adv.Spec.Interfaces,
		}
		for j, name := range adv.Spec.Interfaces {
			if name == "" || len(name) > maxInterfaceName || strings.ContainsAny(name, "/: \t") {
				ps.add(ref, indexed("spec.interfaces", j), "%q is not a Linux interface name (1-15 characters, no '/', ':' or spaces)", name)
			}
		}
		for j, pref := range adv.Spec.PreferredNodeSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&pref.Preference)
			if err != nil {
				ps.add(ref, indexed("spec.preferredNodeSelectors", j)+".preference", "invalid label selector: %v", err)
				continue
			}
			out.PreferredNodes = append(out.PreferredNodes, WeightedSelector{Weight: int64(pref.Weight), Selector: sel})
		}
		cfg.L2Advertisements = append(cfg.L2Advertisements, out)
	}
}

func parseBGPAdvertisements(ps *problems, cfg *Config, pools []v1beta1.IPAddressPool, in []v1beta1.BGPAdvertisement, aliases map[string]Community) {
	for i := range in {
		adv := &in[i]
		ref := Ref{KindBGPAdvertisement, adv.Name}
		poolSels := selectors(ps, ref, "spec.ipAddressPoolSelectors", adv.Spec.IPAddressPoolSelectors)
		out := &BGPAdvertisement{
			Name:                adv.Name,
			Pools:               selectedPools(ps, ref, pools, adv.Spec.IPAddressPools, poolSels),
			AggregationLength:   32,
			AggregationLengthV6: 128,
			LocalPref:           adv.Spec.LocalPref,
			Peers:               adv.Spec.Peers,
			NodeSelectors:       selectors(ps, ref, "spec.nodeSelectors", adv.Spec.NodeSelectors),
			ServiceSelectors:    selectors(ps, ref, "spec.serviceSelectors", adv.Spec.ServiceSelectors),
		}
		if l := adv.Spec.AggregationLength; l != nil {
			out.AggregationLength = int(*l)
			if *l < 0 || *l > 32 {
				ps.add(ref, "spec.aggregationLength", "must be between 0 and 32, got %d", *l)
			}
		}
		if l := adv.Spec.AggregationLengthV6; l != nil {
			out.AggregationLengthV6 = int(*l)
			if *l < 0 || *l > 128 {
				ps.add(ref, "spec.aggregationLengthV6", "must be between 0 and 128, got %d", *l)
			}
		}
		if len(adv.Spec.ServiceSelectors) > 0 {
			// Aggregated routes cover other Services' IPs than those
			// selected; MetalLB refuses the combination too.
			if l := adv.Spec.AggregationLength; l != nil && *l != 32 {
				ps.add(ref, "spec.aggregationLength", "cannot be set with serviceSelectors: an aggregated route would carry Services the selectors leave out")
			}
			if l := adv.Spec.AggregationLengthV6; l != nil && *l != 128 {
				ps.add(ref, "spec.aggregationLengthV6", "cannot be set with serviceSelectors: an aggregated route would carry Services the selectors leave out")
			}
		}
		checkAggregation(ps, ref, cfg, out)
		checkLocalPref(ps, ref, cfg, out)
		for j, c := range adv.Spec.Communities {
			if alias, ok := aliases[c]; ok {
				out.Communities = append(out.Communities, alias)
				continue
			}
			parsed, err := ParseCommunity(c)
			if err != nil {
				if !strings.Contains(c, ":") {
					// An alias whose Community is applied after this
					// advertisement (Helm and kubectl apply kinds in
					// alphabetical order): admitted, as MetalLB does; the
					// configuration waits for it.
					ps.addTransient(ref, indexed("spec.communities", j), "%q is neither a community value nor the name of an alias in a Community object (yet)", c)
				} else {
					ps.add(ref, indexed("spec.communities", j), "%v", err)
				}
				continue
			}
			out.Communities = append(out.Communities, parsed)
		}
		for j, peer := range adv.Spec.Peers {
			if _, ok := cfg.Peers[peer]; !ok {
				ps.warn(ref, indexed("spec.peers", j), "BGPPeer %q does not exist (yet)", peer)
			}
		}
		cfg.BGPAdvertisements = append(cfg.BGPAdvertisements, out)
	}
}

// checkAggregation refuses an aggregation length shorter than the prefixes
// of an advertised pool: the aggregate would announce addresses the pool
// does not own. A range counts as the CIDRs that cover it exactly, and its
// shortest one sets the limit.
func checkAggregation(ps *problems, ref Ref, cfg *Config, adv *BGPAdvertisement) {
	for _, name := range adv.Pools {
		p, ok := cfg.Pools[name]
		if !ok {
			continue
		}
		for _, r := range p.Ranges {
			agg, field := adv.AggregationLength, "spec.aggregationLength"
			if r.Family() == ipam.IPv6 {
				agg, field = adv.AggregationLengthV6, "spec.aggregationLengthV6"
			}
			if bits := shortestPrefix(r); agg < bits {
				ps.addWith(ref, []Ref{{KindIPAddressPool, name}}, field,
					"%d is shorter than /%d, the widest prefix within %s of IPAddressPool %q: the route would cover addresses the pool does not own",
					agg, bits, r, name)
			}
		}
	}
}

// checkLocalPref warns about an advertisement that sends a route another
// advertisement already sends with a different local preference: both
// advertise a pool's prefixes at the same aggregation length, to a common
// peer, from every node. MetalLB's webhook refuses the second; IronLB
// admits it and sends the highest preference (a route carries one), as it
// always has, so no configuration it accepted turns invalid on upgrade.
// Advertisements with node selectors are not compared: IronLB validates
// without the cluster's Nodes.
func checkLocalPref(ps *problems, ref Ref, cfg *Config, adv *BGPAdvertisement) {
	for _, prev := range cfg.BGPAdvertisements {
		if prev.LocalPref == adv.LocalPref || len(prev.NodeSelectors) > 0 || len(adv.NodeSelectors) > 0 {
			continue
		}
		if len(prev.Peers) > 0 && len(adv.Peers) > 0 && !slices.ContainsFunc(adv.Peers, func(p string) bool { return slices.Contains(prev.Peers, p) }) {
			continue
		}
		for _, name := range adv.Pools {
			p, ok := cfg.Pools[name]
			if !ok || !slices.Contains(prev.Pools, name) || !sameRoutes(p, prev, adv) {
				continue
			}
			ps.warn(ref, "spec.localPref",
				"%d differs from BGPAdvertisement %q's %d for the same routes (IPAddressPool %q at the same aggregation length, common peers and nodes): the routes carry the highest; MetalLB refuses this",
				adv.LocalPref, prev.Name, prev.LocalPref, name)
			return
		}
	}
}

// sameRoutes reports whether a and b send some of pool's routes alike: at
// the same aggregation length for a family the pool holds.
func sameRoutes(pool *Pool, a, b *BGPAdvertisement) bool {
	for _, r := range pool.Ranges {
		if r.Family() == ipam.IPv6 && a.AggregationLengthV6 == b.AggregationLengthV6 ||
			r.Family() != ipam.IPv6 && a.AggregationLength == b.AggregationLength {
			return true
		}
	}
	return false
}

// shortestPrefix returns the length of the widest CIDR in the exact CIDR
// cover of r.
func shortestPrefix(r ipam.Range) int {
	shortest := r.First.BitLen()
	for a := r.First; ; {
		bits := a.BitLen()
		// Widen the prefix at a while it stays aligned and inside r.
		for bits > 0 {
			p, err := a.Prefix(bits - 1)
			if err != nil || p.Addr() != a || r.Last.Less(lastAddr(p)) {
				break
			}
			bits--
		}
		shortest = min(shortest, bits)
		p, _ := a.Prefix(bits)
		last := lastAddr(p)
		if last == r.Last {
			return shortest
		}
		a = last.Next()
	}
}

// lastAddr returns the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for bit := p.Bits(); bit < len(b)*8; bit++ {
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
