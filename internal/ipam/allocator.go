package ipam

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Assignment is the IPs a Service holds.
type Assignment struct {
	Service Service
	IPs     []netip.Addr
	// Pool holds the IPs; empty when they left every pool (the Service
	// keeps them until it is changed or deleted: see Orphans).
	Pool string
}

// holders are the Services holding one IP: one, or several that share it.
type holders struct {
	pool *poolState // nil when the IP is in no pool
	svcs []*Service
}

// Allocator holds every assignment and the pools' free addresses.
type Allocator struct {
	pools map[string]*poolState
	// autoOrder is the pools in auto-assignment order: by priority (none
	// last), then by name, so that the choice is the same on every run.
	autoOrder []*poolState
	ips       map[netip.Addr]*holders
	services  map[string]*Assignment
	// sharing indexes held IPs by sharing key, so finding an IP to share
	// never walks a pool.
	sharing map[string]map[netip.Addr]struct{}
}

// New returns an allocator without pools or assignments.
func New() *Allocator {
	return &Allocator{
		pools:    map[string]*poolState{},
		ips:      map[netip.Addr]*holders{},
		services: map[string]*Assignment{},
		sharing:  map[string]map[netip.Addr]struct{}{},
	}
}

// SetPools replaces the pools, keeping every assignment: an IP that left
// every pool stays with its Service (see Orphans). Pools must not overlap;
// the configuration's validation guarantees it.
func (a *Allocator) SetPools(pools []Pool) {
	a.pools = make(map[string]*poolState, len(pools))
	a.autoOrder = a.autoOrder[:0]
	for _, p := range pools {
		st := newPoolState(p)
		a.pools[p.Name] = st
		a.autoOrder = append(a.autoOrder, st)
	}
	slices.SortFunc(a.autoOrder, func(x, y *poolState) int {
		px, py := x.Priority, y.Priority
		if (px == 0) != (py == 0) {
			if px == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(px, py), cmp.Compare(x.Name, y.Name))
	})
	for ip, h := range a.ips {
		h.pool = a.poolFor(ip)
		if h.pool != nil {
			h.pool.free[familyIndex(FamilyOf(ip))].take(ip)
			h.pool.used[familyIndex(FamilyOf(ip))]++
		}
	}
	for _, asg := range a.services {
		asg.Pool = ""
		if h := a.ips[asg.IPs[0]]; h.pool != nil {
			asg.Pool = h.pool.Name
			h.pool.services++
		}
	}
}

// poolFor returns the pool containing ip, or nil.
func (a *Allocator) poolFor(ip netip.Addr) *poolState {
	for _, p := range a.autoOrder {
		if p.contains(ip) {
			return p
		}
	}
	return nil
}

// Assignment returns what the Service holds.
func (a *Allocator) Assignment(key string) (*Assignment, bool) {
	asg, ok := a.services[key]
	return asg, ok
}

// Orphans returns the keys of Services holding an IP that is in no pool,
// sorted.
func (a *Allocator) Orphans() []string {
	var keys []string
	for k, asg := range a.services {
		if asg.Pool == "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Stats counts the named pool's addresses; false if there is no such pool.
func (a *Allocator) Stats(pool string) (PoolStats, bool) {
	p, ok := a.pools[pool]
	if !ok {
		return PoolStats{}, false
	}
	return p.stats(), true
}

// Restore records IPs a Service already holds (its status, after a restart),
// whether or not they are in a pool, so that nothing that works is moved.
// It fails only if an IP is held by a Service it cannot share with: the
// first one restored keeps it.
func (a *Allocator) Restore(svc Service, ips []netip.Addr) error {
	if len(ips) == 0 {
		return nil
	}
	a.Release(svc.Key)
	for _, ip := range ips {
		if err := a.checkShare(&svc, ip); err != nil {
			return err
		}
	}
	a.hold(&svc, ips)
	return nil
}

// Allocate gives the Service the IPs it asks for and returns its
// assignment. A Service that already holds IPs satisfying its request keeps
// them. When a changed request cannot be met, the Service keeps what it had
// and the error says why.
func (a *Allocator) Allocate(svc Service) (*Assignment, error) {
	cur, had := a.services[svc.Key]
	if had && a.satisfies(cur, &svc) {
		a.updateService(cur, svc)
		return cur, nil
	}
	if had {
		a.Release(svc.Key)
	}
	ips, err := a.choose(&svc)
	if err != nil {
		if had {
			a.hold(&cur.Service, cur.IPs)
		}
		return nil, fmt.Errorf("%s: %w", svc.Key, err)
	}
	return a.hold(&svc, ips), nil
}

// AddFamily gives a PreferDualStack Service that holds one IP and wants two
// families an IP of the other family from the pool it holds, once that
// pool has such addresses (a range added later), as MetalLB does. It
// returns the IP added, or none when there is nothing to add: the Service
// holds both families, asks for IPs by name, holds an IP outside every
// pool, or its pool has no address of the other family. An error says why
// the pool, which has that family, cannot give one; the Service keeps its
// IP.
func (a *Allocator) AddFamily(key string) (netip.Addr, error) {
	cur, ok := a.services[key]
	if !ok {
		return netip.Addr{}, nil
	}
	svc := cur.Service
	want := svc.wantFamilies()
	if svc.Stack != PreferDualStack || len(want) < 2 || len(cur.IPs) != 1 || len(svc.RequestedIPs) > 0 || cur.Pool == "" {
		return netip.Addr{}, nil
	}
	p := a.pools[cur.Pool]
	missing := want[1]
	if FamilyOf(cur.IPs[0]) == missing {
		missing = want[0]
	}
	if p == nil || !p.has(missing) {
		return netip.Addr{}, nil
	}
	ip, ok := a.shareable(p, &svc, missing)
	if !ok {
		if ip, ok = p.lowestFree(missing); !ok {
			return netip.Addr{}, fmt.Errorf("%s: no %s address for PreferDualStack: %w in pool %q (%s)", key, missing, ErrExhausted, p.Name, missing)
		}
	}
	ips := append(slices.Clone(cur.IPs), ip)
	a.Release(key)
	a.hold(&svc, ips)
	return ip, nil
}

// OneFamilyOfTwo lists, sorted, the PreferDualStack Services that hold one
// IP and want two families: those AddFamily may serve after a change of
// pools.
func (a *Allocator) OneFamilyOfTwo() []string {
	var out []string
	for key, asg := range a.services {
		if asg.Service.Stack == PreferDualStack && len(asg.Service.wantFamilies()) == 2 && len(asg.IPs) == 1 && len(asg.Service.RequestedIPs) == 0 {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}

// Release frees whatever the Service holds.
func (a *Allocator) Release(key string) {
	asg, ok := a.services[key]
	if !ok {
		return
	}
	delete(a.services, key)
	if p := a.pools[asg.Pool]; p != nil {
		p.services--
	}
	for _, ip := range asg.IPs {
		h := a.ips[ip]
		h.svcs = slices.DeleteFunc(h.svcs, func(s *Service) bool { return s.Key == key })
		if len(h.svcs) > 0 {
			continue
		}
		delete(a.ips, ip)
		a.unindexShared(asg.Service.SharingKey, ip)
		if h.pool != nil {
			h.pool.free[familyIndex(FamilyOf(ip))].put(ip)
			h.pool.used[familyIndex(FamilyOf(ip))]--
		}
	}
}

// hold records the Service as a holder of ips, which must be free or
// shareable with it.
func (a *Allocator) hold(svc *Service, ips []netip.Addr) *Assignment {
	s := *svc
	asg := &Assignment{Service: s, IPs: slices.Clone(ips)}
	for _, ip := range ips {
		h, ok := a.ips[ip]
		if !ok {
			h = &holders{pool: a.poolFor(ip)}
			a.ips[ip] = h
			if h.pool != nil {
				h.pool.free[familyIndex(FamilyOf(ip))].take(ip)
				h.pool.used[familyIndex(FamilyOf(ip))]++
			}
		}
		h.svcs = append(h.svcs, &asg.Service)
		a.indexShared(s.SharingKey, ip)
	}
	if h := a.ips[ips[0]]; h.pool != nil {
		asg.Pool = h.pool.Name
		h.pool.services++
	}
	a.services[s.Key] = asg
	return asg
}

// updateService refreshes the recorded view of a Service that keeps its IPs
// (labels or ports may have changed compatibly).
func (a *Allocator) updateService(asg *Assignment, svc Service) {
	if old, next := asg.Service.SharingKey, svc.SharingKey; old != next {
		// Only a sole holder can change its key (satisfies refuses
		// otherwise), so the IPs move to the new key's index whole.
		for _, ip := range asg.IPs {
			a.unindexShared(old, ip)
			a.indexShared(next, ip)
		}
	}
	asg.Service = svc
	for _, ip := range asg.IPs {
		h := a.ips[ip]
		for i, s := range h.svcs {
			if s.Key == svc.Key {
				h.svcs[i] = &asg.Service
			}
		}
	}
}

// checkShare returns nil if svc may hold ip next to its current holders.
func (a *Allocator) checkShare(svc *Service, ip netip.Addr) error {
	h, ok := a.ips[ip]
	if !ok {
		return nil
	}
	for _, other := range h.svcs {
		if other.Key == svc.Key {
			continue
		}
		if why := svc.canShareWith(other); why != "" {
			return fmt.Errorf("%w: %s is held by %s and cannot be shared: %s", ErrInUse, ip, other.Key, why)
		}
	}
	return nil
}

// satisfies reports whether what the Service holds still meets its request.
func (a *Allocator) satisfies(asg *Assignment, svc *Service) bool {
	if len(svc.RequestedIPs) > 0 {
		if !sameSet(asg.IPs, svc.RequestedIPs) {
			return false
		}
	} else if !familiesFit(asg.IPs, svc) {
		return false
	}
	if svc.RequestedPool != "" && asg.Pool != svc.RequestedPool {
		return false
	}
	for _, ip := range asg.IPs {
		if a.checkShare(svc, ip) != nil {
			return false
		}
	}
	return true
}

// familiesFit: the IPs are one per wanted family, or for PreferDualStack at
// least the primary family.
func familiesFit(ips []netip.Addr, svc *Service) bool {
	want := svc.wantFamilies()
	got := make([]Family, 0, len(ips))
	for _, ip := range ips {
		got = append(got, FamilyOf(ip))
	}
	if svc.Stack == PreferDualStack && len(got) == 1 {
		return got[0] == want[0]
	}
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	return slices.Equal(got, w)
}

func sameSet(a, b []netip.Addr) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

func (a *Allocator) indexShared(key string, ip netip.Addr) {
	if key == "" {
		return
	}
	if a.sharing[key] == nil {
		a.sharing[key] = map[netip.Addr]struct{}{}
	}
	a.sharing[key][ip] = struct{}{}
}

func (a *Allocator) unindexShared(key string, ip netip.Addr) {
	if key == "" {
		return
	}
	delete(a.sharing[key], ip)
	if len(a.sharing[key]) == 0 {
		delete(a.sharing, key)
	}
}
