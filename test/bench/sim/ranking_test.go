package main

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ironlb/ironlb/speaker/election"
)

// The simulation's shared ranking must elect what speaker/election's Plan
// elects, for every live set: owners, successors, and each node's
// predecessors (what the watch watches).
func TestRankingAgreesWithElection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		nodes, vips int
		deadMax     int // up to this many members dead in a trial
	}{
		{"3 nodes, 6 VIPs", 3, 6, 2},
		{"10 nodes, 20 VIPs", 10, 20, 5},
		{"40 nodes, 80 VIPs: past the near-rank shortcut", 40, 80, 8},
		{"7 nodes, 1 VIP", 7, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := labNodeNames(tc.nodes)
			r := newRanking(names, labVIPs(tc.vips))
			rng := rand.New(rand.NewPCG(uint64(tc.nodes), 7))
			for trial := range 50 {
				plan := election.NewPlan(names)
				for s, ip := range r.vips {
					plan.SetService(election.Service{Key: svcKey(s), IP: ip, Candidates: names})
				}
				alive := make([]bool, tc.nodes)
				for i := range alive {
					alive[i] = true
				}
				dead := 0
				if trial > 0 {
					for range rng.IntN(tc.deadMax + 1) {
						i := rng.IntN(tc.nodes)
						if alive[i] {
							alive[i] = false
							dead++
							plan.Leave(names[i])
						}
					}
				}
				for s := range r.vips {
					owner, next := r.ownerAndSuccessor(s, alive)
					if got, want := name(names, owner), plan.Owner(svcKey(s)); got != want {
						t.Fatalf("trial %d, VIP %s: owner %q, election says %q", trial, r.vips[s], got, want)
					}
					if got, want := name(names, next), plan.Successor(svcKey(s)); got != want {
						t.Fatalf("trial %d, VIP %s: successor %q, election says %q", trial, r.vips[s], got, want)
					}
				}
				for i := range names {
					var got []string
					for _, p := range r.predecessors(int32(i), alive, dead, nil) {
						got = append(got, names[p])
					}
					slices.Sort(got) // the simulation sorts by id, election by name
					if want := plan.Predecessors(names[i]); !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
						t.Fatalf("trial %d: %s's predecessors %v, election says %v", trial, names[i], got, want)
					}
				}
			}
		})
	}
}

func svcKey(s int) string { return "svc-" + string(rune('a'+s%26)) + string(rune('a'+s/26)) }

func name(names []string, id int32) string {
	if id < 0 {
		return ""
	}
	return names[id]
}
