package main

import (
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ironlb/ironlb/test/bench/benchrun"
	"github.com/ironlb/ironlb/test/l2lab"
)

// soakVIPsPerNode is how many VIPs every node must own before a soak
// starts: a false death of any member then moves VIPs the client watches.
const soakVIPsPerNode = 10

// runSoak saturates both cores and drops a share of the packets into
// every node for d, while the client watches the owner of every VIP (a
// request for each every sweepEvery, and every gratuitous announcement);
// no node fails, so every change of owner is a false alarm, and two nodes
// answering one request round is a split.
func runSoak(r *benchrun.Runner, c *l2lab.Cluster, vipStrings []string, d, sweepEvery time.Duration, loss float64) {
	s, vips := sweepVIPs(r, c, vipStrings)
	defer s.close()
	owners := s.owners(r, vips)
	perNode := ownedPerNode(c, owners)
	for _, n := range c.Nodes {
		if perNode[n] < soakVIPsPerNode {
			r.Fatalf("%s owns %d of the %d VIPs, fewer than %d: ask for more with -services", n, perNode[n], len(vips), soakVIPsPerNode)
		}
	}

	c.DropInbound(loss)
	hogs := r.SaturateCores()
	fmt.Printf("• soak: %s with %d busy loops on %d cores and %.0f%% of packets into each node dropped; %d VIPs (%s), each asked for every %s\n",
		d, hogs, runtime.NumCPU(), loss*100, len(vips), formatCounts(perNode), sweepEvery)

	cpu0, start := c.SpeakerCPU(), time.Now()
	takeovers0, held0 := speakerTakeovers(c), heldDeaths(c)
	s.record()
	for end := start.Add(d); time.Now().Before(end); {
		s.sweep(vips, sweepEvery)
	}
	history := s.stopRecording()
	took := time.Since(start)
	cpu1 := c.SpeakerCPU()
	takeovers1, held1 := speakerTakeovers(c), heldDeaths(c)

	changes, splits := countOwnerChanges(c, vips, owners, history, start, sweepEvery)
	fmt.Printf("\nsoak %s, %d nodes, %.0f%% loss, cores saturated, %d VIPs watched (%s): %d false alarms (another node answering an owned VIP, episodes at least 1 s apart), %d of them while the owner still answered (split)\n",
		took.Round(time.Second), len(c.Nodes), loss*100, len(vips), formatCounts(perNode), changes, splits)
	fmt.Printf("  speaker CPU over the soak: %s\n", benchrun.FormatCPU(cpu0, cpu1, took))
	fmt.Printf("  takeovers the speakers counted (ironlb_layer2_takeover_seconds_count): %s\n", formatTakeovers(takeovers0, takeovers1))
	fmt.Printf("  deaths memberlist declared that a speaker held (the member's port still listening), per speaker: %s\n", formatTakeovers(held0, held1))
	fmt.Printf("• speaker RSS: %s\n", formatRSS(c.SpeakerRSS()))
}

// countOwnerChanges counts, in what the sweeper recorded, the episodes
// (at least 1 s apart) of a node other than a VIP's owner answering or
// announcing it, printing each, and how many of them were splits: the
// owner still answered within a sweep.
func countOwnerChanges(c *l2lab.Cluster, vips []netip.Addr, owners map[netip.Addr]string, history map[netip.Addr][]sample, start time.Time, sweepEvery time.Duration) (changes, splits int) {
	for _, ip := range vips {
		owner := owners[ip]
		var lastSplit time.Time
		for _, e := range history[ip] {
			if e.mac == owner {
				continue
			}
			if e.at.Sub(lastSplit) > time.Second {
				changes++
				fmt.Printf("  %s answered by %s (owner %s) at +%s\n", ip, c.NodeByMAC(e.mac), c.NodeByMAC(owner), e.at.Sub(start).Round(time.Millisecond))
				if ownerNear(history[ip], owner, e.at, sweepEvery) {
					splits++
				}
			}
			lastSplit = e.at
		}
	}
	return changes, splits
}

// heldDeaths counts, per speaker, the members it found declared dead but
// still listening (the loop's log line).
func heldDeaths(c *l2lab.Cluster) map[string]int {
	out := map[string]int{}
	for _, n := range c.Nodes {
		if p := c.Speaker(n); p != nil {
			out[n] = strings.Count(p.All(), "stalled, not dead")
		}
	}
	return out
}

// owners sweeps until every VIP answered and returns who answers each.
func (s *sweeper) owners(r *benchrun.Runner, vips []netip.Addr) map[netip.Addr]string {
	s.learnOwners(r, vips)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[netip.Addr]string{}
	for ip, smp := range s.last {
		out[ip] = smp.mac
	}
	return out
}

// ownerNear reports whether owner answered within window of at.
func ownerNear(history []sample, owner string, at time.Time, window time.Duration) bool {
	return slices.ContainsFunc(history, func(e sample) bool {
		return e.mac == owner && e.at.Sub(at).Abs() <= window
	})
}

// speakerTakeovers reads, per speaker, how many takeovers its metrics
// counted (the decision phase is observed once per takeover); nil without
// l2lab.Options.Metrics.
func speakerTakeovers(c *l2lab.Cluster) map[string]int {
	return c.SpeakerCounter("ironlb_layer2_takeover_seconds_count", `phase="decision"`)
}

func formatTakeovers(before, after map[string]int) string {
	if after == nil {
		return "metrics off"
	}
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(after)) {
		parts = append(parts, fmt.Sprintf("%s %d", n, after[n]-before[n]))
	}
	return strings.Join(parts, ", ")
}

func formatCounts(m map[string]int) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s owns %d", n, m[n]))
	}
	return strings.Join(parts, ", ")
}
