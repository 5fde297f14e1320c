package config

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipam"
)

func indexed(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

func parsePools(ps *problems, cfg *Config, in []v1beta1.IPAddressPool) {
	type owned struct {
		r    ipam.Range
		pool string
	}
	var all []owned
	for i := range in {
		p := &in[i]
		ref := Ref{KindIPAddressPool, p.Name}
		pool := &Pool{
			Name:          p.Name,
			Labels:        labels.Set(p.Labels),
			AutoAssign:    p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
			AvoidBuggyIPs: p.Spec.AvoidBuggyIPs,
		}
		if len(p.Spec.Addresses) == 0 {
			ps.add(ref, "spec.addresses", "needs at least one CIDR or range")
		}
		for j, s := range p.Spec.Addresses {
			r, err := ipam.ParseRange(s)
			if err != nil {
				ps.add(ref, indexed("spec.addresses", j), "%v", err)
				continue
			}
			for k, prev := range pool.Ranges {
				if prev.Overlaps(r) {
					ps.add(ref, indexed("spec.addresses", j), "%s overlaps %s in the same pool (entry %d)", s, prev, k)
				}
			}
			pool.Ranges = append(pool.Ranges, r)
		}
		if sa := p.Spec.ServiceAllocation; sa != nil {
			pool.Priority = sa.Priority
			for j, ns := range sa.Namespaces {
				if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
					ps.add(ref, indexed("spec.serviceAllocation.namespaces", j), "%q is not a namespace name: %s", ns, errs[0])
				}
				if k := slices.Index(sa.Namespaces, ns); k < j {
					ps.add(ref, indexed("spec.serviceAllocation.namespaces", j), "%q is listed twice (entry %d too)", ns, k)
				}
			}
			pool.Namespaces = slices.Clone(sa.Namespaces)
			pool.NamespaceSelectors = selectors(ps, ref, "spec.serviceAllocation.namespaceSelectors", sa.NamespaceSelectors)
			pool.ServiceSelectors = selectors(ps, ref, "spec.serviceAllocation.serviceSelectors", sa.ServiceSelectors)
		}
		for _, r := range pool.Ranges {
			for _, o := range all {
				if o.r.Overlaps(r) && o.pool != p.Name {
					ps.addWith(ref, []Ref{{KindIPAddressPool, o.pool}}, "spec.addresses",
						"%s overlaps %s of IPAddressPool %q: an address may belong to one pool only", r, o.r, o.pool)
				}
			}
		}
		for _, r := range pool.Ranges {
			all = append(all, owned{r, p.Name})
		}
		cfg.Pools[p.Name] = pool
		cfg.PoolOrder = append(cfg.PoolOrder, p.Name)
	}
	slices.Sort(cfg.PoolOrder)
}

// selectedPools resolves an advertisement's pool names and pool selectors
// into pool names; no names and no selectors selects every pool. Names of
// pools that do not exist are warnings: the pool may just not be created yet.
func selectedPools(ps *problems, ref Ref, pools []v1beta1.IPAddressPool, names []string, sels []labels.Selector) []string {
	exists := map[string]bool{}
	for i := range pools {
		exists[pools[i].Name] = true
	}
	var out []string
	for i, n := range names {
		if !exists[n] {
			ps.warn(ref, indexed("spec.ipAddressPools", i), "IPAddressPool %q does not exist (yet)", n)
			continue
		}
		out = append(out, n)
	}
	for i := range pools {
		for _, sel := range sels {
			if sel.Matches(labels.Set(pools[i].Labels)) {
				out = append(out, pools[i].Name)
				break
			}
		}
	}
	if len(names) == 0 && len(sels) == 0 {
		for i := range pools {
			out = append(out, pools[i].Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
