package ipam

import (
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
)

// Pool is an IPAddressPool as allocation sees it.
type Pool struct {
	Name   string
	Ranges []Range
	// AutoAssign lets Services that name neither a pool nor an IP get
	// addresses from this pool.
	AutoAssign bool
	// AvoidBuggyIPs skips IPv4 addresses ending in .0 and .255.
	AvoidBuggyIPs bool
	// Priority orders auto-assignment: lower first; 0 means none, after
	// every pool that has one.
	Priority int
	// Namespaces and NamespaceSelectors restrict the pool to Services of
	// matching namespaces (either matches); empty means any namespace.
	Namespaces         []string
	NamespaceSelectors []Selector
	// ServiceSelectors restrict the pool to Services whose labels match any
	// of them; empty means any Service.
	ServiceSelectors []Selector
}

// allows says why the pool may not serve svc, or "" if it may.
func (p *Pool) allows(svc *Service) string {
	if len(p.Namespaces)+len(p.NamespaceSelectors) > 0 {
		ok := slices.Contains(p.Namespaces, svc.Namespace)
		for _, sel := range p.NamespaceSelectors {
			ok = ok || sel.Matches(svc.NamespaceLabels)
		}
		if !ok {
			return fmt.Sprintf("pool %q does not serve namespace %q", p.Name, svc.Namespace)
		}
	}
	if len(p.ServiceSelectors) > 0 {
		ok := false
		for _, sel := range p.ServiceSelectors {
			ok = ok || sel.Matches(svc.Labels)
		}
		if !ok {
			return fmt.Sprintf("pool %q does not serve Services with the labels of %s", p.Name, svc.Key)
		}
	}
	return ""
}

// familyIndex maps a family to the per-family arrays below.
func familyIndex(f Family) int {
	if f == IPv6 {
		return 1
	}
	return 0
}

// poolState is a pool with its free addresses and counters.
type poolState struct {
	Pool
	free  [2]*freeSet
	total [2]*big.Int // addresses per family, buggy ones excluded when avoided
	used  [2]int64    // addresses of the pool held by at least one Service
	// services holding addresses of the pool (sharing Services count
	// once each).
	services int64
}

func newPoolState(p Pool) *poolState {
	s := &poolState{Pool: p, free: [2]*freeSet{newFreeSet(), newFreeSet()}, total: [2]*big.Int{new(big.Int), new(big.Int)}}
	for _, r := range p.Ranges {
		i := familyIndex(r.Family())
		s.free[i].add(r)
		n := r.Size()
		if p.AvoidBuggyIPs {
			n.Sub(n, new(big.Int).SetUint64(buggyCount(r)))
		}
		s.total[i].Add(s.total[i], n)
	}
	return s
}

func (s *poolState) has(f Family) bool { return s.total[familyIndex(f)].Sign() > 0 }

func (s *poolState) contains(a netip.Addr) bool {
	for _, r := range s.Ranges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// lowestFree returns the lowest free address of family f, dropping buggy
// addresses from the free set as it meets them when the pool avoids them
// (each is dropped once, so the cost is amortized).
func (s *poolState) lowestFree(f Family) (netip.Addr, bool) {
	free := s.free[familyIndex(f)]
	for {
		a, ok := free.lowest()
		if !ok || !s.AvoidBuggyIPs || !buggy(a) {
			return a, ok
		}
		free.take(a)
	}
}

// PoolStats counts a pool's addresses per family.
type PoolStats struct {
	// Services is how many Services hold addresses of the pool.
	Services  int64
	InUse     map[Family]int64
	Available map[Family]int64
	Total     map[Family]int64
}

func (s *poolState) stats() PoolStats {
	st := PoolStats{Services: s.services, InUse: map[Family]int64{}, Available: map[Family]int64{}, Total: map[Family]int64{}}
	for _, f := range []Family{IPv4, IPv6} {
		i := familyIndex(f)
		st.InUse[f] = s.used[i]
		st.Total[f] = saturate(s.total[i])
		avail := new(big.Int).Sub(s.total[i], big.NewInt(s.used[i]))
		st.Available[f] = saturate(avail)
	}
	return st
}

// saturate converts to int64, clamping IPv6-sized counts to MaxInt64.
func saturate(n *big.Int) int64 {
	if n.IsInt64() {
		return n.Int64()
	}
	if n.Sign() < 0 {
		return 0
	}
	return math.MaxInt64
}
