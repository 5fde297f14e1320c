package ipam

import (
	"net/netip"

	"github.com/google/btree"
)

// freeSet holds the free addresses of a pool as disjoint, non-adjacent
// intervals ordered by their first address, in a B-tree: the lowest free
// address is the minimum, and taking or returning one address touches at
// most two intervals, so every operation is O(log n) in the number of
// intervals (the pool's fragmentation), never in the pool's size.
type freeSet struct {
	t *btree.BTreeG[Range]
}

// freeSetDegree is the B-tree's branching factor; 32 keeps nodes within a
// few cache lines of 48-byte intervals.
const freeSetDegree = 32

func newFreeSet() *freeSet {
	return &freeSet{t: btree.NewG(freeSetDegree, func(a, b Range) bool { return a.First.Less(b.First) })}
}

// add inserts a range, which must not overlap the free addresses; it merges
// with adjacent intervals.
func (s *freeSet) add(r Range) {
	if prev, ok := s.floor(r.First.Prev()); ok && prev.Last.Next() == r.First {
		s.t.Delete(prev)
		r.First = prev.First
	}
	if after := r.Last.Next(); after.IsValid() {
		if next, ok := s.t.Get(Range{First: after}); ok {
			s.t.Delete(next)
			r.Last = next.Last
		}
	}
	s.t.ReplaceOrInsert(r)
}

// floor returns the interval with the greatest start <= a.
func (s *freeSet) floor(a netip.Addr) (Range, bool) {
	var found Range
	ok := false
	if !a.IsValid() {
		return found, false
	}
	s.t.DescendLessOrEqual(Range{First: a}, func(r Range) bool {
		found, ok = r, true
		return false
	})
	return found, ok
}

// contains reports whether a is free.
func (s *freeSet) contains(a netip.Addr) bool {
	r, ok := s.floor(a)
	return ok && r.Contains(a)
}

// take removes a from the free addresses; false if it was not free.
func (s *freeSet) take(a netip.Addr) bool {
	r, ok := s.floor(a)
	if !ok || !r.Contains(a) {
		return false
	}
	s.t.Delete(r)
	if r.First != a {
		s.t.ReplaceOrInsert(Range{First: r.First, Last: a.Prev()})
	}
	if r.Last != a {
		s.t.ReplaceOrInsert(Range{First: a.Next(), Last: r.Last})
	}
	return true
}

// put returns a to the free addresses.
func (s *freeSet) put(a netip.Addr) {
	s.add(Range{First: a, Last: a})
}

// lowest returns the lowest free address.
func (s *freeSet) lowest() (netip.Addr, bool) {
	r, ok := s.t.Min()
	return r.First, ok
}

// intervals is the number of free intervals (for tests and benchmarks).
func (s *freeSet) intervals() int { return s.t.Len() }
