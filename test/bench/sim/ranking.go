package main

import (
	"net/netip"
	"strconv"

	"github.com/ironlb/ironlb/speaker/election"
)

// ranking is every Service's candidates in MetalLB's order, computed once
// with speaker/election.Rank and shared by every node: each node keeps only
// which members its agent holds alive, and owners, successors and
// predecessors follow from the shared order the way election.Plan derives
// them (ranking_test.go holds the two to agreement). A Plan per node would
// hold 2,000 rankings of 1,000 names each on every one of 1,000 nodes.
type ranking struct {
	names []string
	vips  []netip.Addr
	order [][]int32 // per Service: node ids, best first
	// near lists, per node, the Services it ranks within the first
	// nearDepth places of: while a node's agent holds fewer than
	// nearDepth-1 members dead, it can only succeed those.
	near [][]int32
}

const nearDepth = 4

// labNodeNames are test/l2lab's node names, so the simulated election is
// the lab's: myk8s-worker, myk8s-worker2, ...
func labNodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "myk8s-worker"
		if i > 0 {
			names[i] += strconv.Itoa(i + 1)
		}
	}
	return names
}

// labVIPs are the VIPs test/bench/failover's -scale gives Services: the
// lowest free addresses of 10.251.0.0/20, from 10.251.0.0 up.
func labVIPs(n int) []netip.Addr {
	vips := make([]netip.Addr, n)
	ip := netip.MustParseAddr("10.251.0.0")
	for i := range vips {
		vips[i] = ip
		ip = ip.Next()
	}
	return vips
}

func newRanking(names []string, vips []netip.Addr) *ranking {
	id := make(map[string]int32, len(names))
	for i, n := range names {
		id[n] = int32(i)
	}
	r := &ranking{names: names, vips: vips, order: make([][]int32, len(vips)), near: make([][]int32, len(names))}
	for s, ip := range vips {
		ranked := election.Rank(names, ip, nil)
		ids := make([]int32, len(ranked))
		for i, n := range ranked {
			ids[i] = id[n]
		}
		r.order[s] = ids
		for i := 0; i < nearDepth && i < len(ids); i++ {
			r.near[ids[i]] = append(r.near[ids[i]], int32(s))
		}
	}
	return r
}

// owner is the Service's first live candidate, -1 when none.
func (r *ranking) owner(svc int, alive []bool) int32 {
	for _, n := range r.order[svc] {
		if alive[n] {
			return n
		}
	}
	return -1
}

// ownerAndSuccessor returns the Service's owner and the next live
// candidate after it (election.Plan's Owner and Successor), -1 for none.
func (r *ranking) ownerAndSuccessor(svc int, alive []bool) (int32, int32) {
	owner := int32(-1)
	for _, n := range r.order[svc] {
		if !alive[n] {
			continue
		}
		if owner < 0 {
			owner = n
			continue
		}
		return owner, n
	}
	return owner, -1
}

// predecessors are the owners of the Services me would take over if
// their owner died now (election.Plan.Predecessors), in ascending id
// order; dead counts the members alive holds dead.
func (r *ranking) predecessors(me int32, alive []bool, dead int, into []int32) []int32 {
	into = into[:0]
	add := func(svc int) {
		owner, next := r.ownerAndSuccessor(svc, alive)
		if next != me || owner == me || owner < 0 {
			return
		}
		for _, p := range into {
			if p == owner {
				return
			}
		}
		into = append(into, owner)
	}
	if dead < nearDepth-1 {
		for _, s := range r.near[me] {
			add(int(s))
		}
	} else {
		for s := range r.order {
			add(s)
		}
	}
	// Insertion sort: a handful of members.
	for i := 1; i < len(into); i++ {
		for j := i; j > 0 && into[j] < into[j-1]; j-- {
			into[j], into[j-1] = into[j-1], into[j]
		}
	}
	return into
}
