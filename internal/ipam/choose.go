package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// choose picks IPs for a Service that holds none.
func (a *Allocator) choose(svc *Service) ([]netip.Addr, error) {
	if len(svc.RequestedIPs) > 0 {
		return a.choosePinned(svc)
	}
	pools, err := a.candidatePools(svc)
	if err != nil {
		return nil, err
	}
	want := svc.wantFamilies()
	var errs []error
	for _, p := range pools {
		ips, err := a.fromPool(p, svc, want)
		if err == nil {
			return ips, nil
		}
		errs = append(errs, err)
	}
	if svc.Stack == PreferDualStack && len(want) > 1 {
		for _, p := range pools {
			if ips, err := a.fromPool(p, svc, want[:1]); err == nil {
				return ips, nil
			}
		}
	}
	return nil, joinReasons(errs)
}

// candidatePools are the pools the Service may get addresses from, in the
// order to try them.
func (a *Allocator) candidatePools(svc *Service) ([]*poolState, error) {
	if svc.RequestedPool != "" {
		p, ok := a.pools[svc.RequestedPool]
		if !ok {
			return nil, fmt.Errorf("%w: pool %q requested by metallb.io/address-pool does not exist", ErrUnknownPool, svc.RequestedPool)
		}
		if why := p.allows(svc); why != "" {
			return nil, fmt.Errorf("%w: %s", ErrNotAllowed, why)
		}
		return []*poolState{p}, nil
	}
	var out []*poolState
	var why []string
	for _, p := range a.autoOrder {
		if !p.AutoAssign {
			continue
		}
		if w := p.allows(svc); w != "" {
			why = append(why, w)
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		if len(a.autoOrder) == 0 {
			return nil, fmt.Errorf("%w: no IPAddressPool exists", ErrNoPool)
		}
		if len(why) == 0 {
			return nil, fmt.Errorf("%w: no pool has autoAssign enabled", ErrNoPool)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoPool, strings.Join(why, "; "))
	}
	return out, nil
}

// fromPool picks one IP per family from the pool, preferring an IP the
// Service may share; nothing is taken unless every family succeeds.
func (a *Allocator) fromPool(p *poolState, svc *Service, fams []Family) ([]netip.Addr, error) {
	ips := make([]netip.Addr, 0, len(fams))
	for _, f := range fams {
		if !p.has(f) {
			return nil, fmt.Errorf("%w: pool %q has no %s addresses", ErrFamily, p.Name, f)
		}
		if ip, ok := a.shareable(p, svc, f); ok {
			ips = append(ips, ip)
			continue
		}
		ip, ok := p.lowestFree(f)
		if !ok {
			return nil, fmt.Errorf("%w in pool %q (%s)", ErrExhausted, p.Name, f)
		}
		ips = append(ips, ip)
	}
	return ips, nil
}

// shareable returns the lowest IP of family f in pool p that Services with
// svc's sharing key hold and svc may join.
func (a *Allocator) shareable(p *poolState, svc *Service, f Family) (netip.Addr, bool) {
	if svc.SharingKey == "" {
		return netip.Addr{}, false
	}
	var best netip.Addr
	for ip := range a.sharing[svc.SharingKey] {
		if FamilyOf(ip) != f || a.ips[ip].pool != p || a.checkShare(svc, ip) != nil {
			continue
		}
		if !best.IsValid() || ip.Less(best) {
			best = ip
		}
	}
	return best, best.IsValid()
}

// choosePinned checks the IPs the Service asks for by annotation or
// spec.loadBalancerIP.
func (a *Allocator) choosePinned(svc *Service) ([]netip.Addr, error) {
	var pool *poolState
	seen := map[Family]bool{}
	for _, ip := range svc.RequestedIPs {
		f := FamilyOf(ip)
		if seen[f] {
			return nil, fmt.Errorf("%w: two requested IPs of family %s", ErrFamily, f)
		}
		seen[f] = true
		if len(svc.Families) > 0 && !slices.Contains(svc.Families, f) {
			return nil, fmt.Errorf("%w: requested IP %s is %s, the Service's ipFamilies are %v", ErrFamily, ip, f, svc.Families)
		}
		p := a.poolFor(ip)
		if p == nil {
			return nil, fmt.Errorf("%w: requested IP %s is not in any pool", ErrNotInPool, ip)
		}
		if pool != nil && p != pool {
			return nil, fmt.Errorf("%w: requested IPs come from two pools, %q and %q", ErrNotAllowed, pool.Name, p.Name)
		}
		pool = p
		if svc.RequestedPool != "" && p.Name != svc.RequestedPool {
			return nil, fmt.Errorf("%w: requested IP %s is in pool %q, not in the requested pool %q", ErrNotAllowed, ip, p.Name, svc.RequestedPool)
		}
		if why := p.allows(svc); why != "" {
			return nil, fmt.Errorf("%w: %s", ErrNotAllowed, why)
		}
		if p.AvoidBuggyIPs && buggy(ip) {
			return nil, fmt.Errorf("%w: requested IP %s ends in .0 or .255 and pool %q avoids those", ErrNotAllowed, ip, p.Name)
		}
		if err := a.checkShare(svc, ip); err != nil {
			return nil, err
		}
	}
	if svc.Stack == RequireDualStack && len(seen) < 2 {
		return nil, fmt.Errorf("%w: RequireDualStack needs one requested IP per family", ErrFamily)
	}
	return slices.Clone(svc.RequestedIPs), nil
}

// joinReasons reports every pool's reason; errors.Is finds each sentinel.
func joinReasons(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
