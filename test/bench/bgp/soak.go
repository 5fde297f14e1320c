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

// runSoak measures BFD instead of failovers. First the speakers' CPU at
// rest, for idle, with BGP only and then with BFD at interval × mult (one
// session per speaker): the difference is what one BFD session costs.
// Then both cores saturated and loss of the packets into every node
// dropped for d, with nothing failing: every BFD session down, on either
// side, and every BGP session dropped is a false alarm.
func runSoak(r *benchrun.Runner, c *l2lab.Cluster, nodes []netip.Addr, interval time.Duration, mult int, idle, d time.Duration, loss float64) {
	restCPU := func(what string) map[string]time.Duration {
		time.Sleep(2 * time.Second) // let the change settle
		before, start := c.SpeakerCPU(), time.Now()
		time.Sleep(idle)
		took := time.Since(start)
		after := c.SpeakerCPU()
		fmt.Printf("• speaker CPU at rest, %s, over %s: %s\n", what, took.Round(time.Second), benchrun.FormatCPU(before, after, took))
		out := map[string]time.Duration{}
		for n := range after {
			out[n] = (after[n] - before[n]) * time.Duration(time.Second) / took
		}
		return out
	}
	withoutBFD := restCPU("BGP only")
	if _, err := c.Env.Kubectl(config(interval, mult), "apply", "-f", "-"); err != nil {
		r.Fatalf("applying the BFD profile: %v", err)
	}
	bfdUp := func() string {
		peers, err := c.Router.BFDPeers()
		if err != nil {
			return err.Error()
		}
		for _, n := range nodes {
			if peers[n].Status != "up" {
				return fmt.Sprintf("FRR's BFD sessions %+v", peers)
			}
		}
		return ""
	}
	c.Eventually("every node's BFD session Up on the router", 60*time.Second, bfdUp)
	withBFD := restCPU(fmt.Sprintf("BGP and BFD %s × %d", interval, mult))
	var per []string
	for _, n := range slices.Sorted(maps.Keys(withBFD)) {
		per = append(per, fmt.Sprintf("%s %.2f %%", n, 100*(withBFD[n]-withoutBFD[n]).Seconds()))
	}
	fmt.Printf("• one BFD session at %s × %d costs its speaker (with minus without, of a core): %s\n", interval, mult, strings.Join(per, ", "))

	frrBFD0, frrBGP0 := routerCounters(r, c, nodes)
	ours0 := c.SpeakerCounter("metallb_bfd_session_down_events")
	c.DropInbound(loss)
	hogs := r.SaturateCores()
	fmt.Printf("• soak: %s with %d busy loops on %d cores and %.0f%% of packets into each node dropped; BFD %s × %d (detection %s)\n",
		d, hogs, runtime.NumCPU(), loss*100, interval, mult, time.Duration(mult)*interval)
	start := time.Now()
	for end := start.Add(d); time.Now().Before(end); {
		time.Sleep(min(time.Minute, time.Until(end)))
		frrBFD, frrBGP := routerCounters(r, c, nodes)
		fmt.Printf("  %s: BFD downs seen by the router %d, BGP sessions it dropped %d\n",
			time.Since(start).Round(time.Second), sum(frrBFD)-sum(frrBFD0), sum(frrBGP)-sum(frrBGP0))
	}
	took := time.Since(start)
	frrBFD1, frrBGP1 := routerCounters(r, c, nodes)
	ours1 := c.SpeakerCounter("metallb_bfd_session_down_events")
	fmt.Printf("\nsoak %s, 3 nodes, BFD %s × %d, %.0f%% loss into every node, cores saturated: false BFD downs: the router saw %d, the speakers %d; BGP sessions the router dropped %d\n",
		took.Round(time.Second), interval, mult, loss*100, sum(frrBFD1)-sum(frrBFD0), sum(ours1)-sum(ours0), sum(frrBGP1)-sum(frrBGP0))
	if s := bfdUp(); s != "" {
		fmt.Printf("  at the end: %s\n", s)
	}
	// The speakers' counter is read for real: each counted its session
	// coming Up before the soak.
	fmt.Printf("  BFD up events the speakers counted since they started: %d\n", sum(c.SpeakerCounter("metallb_bfd_session_up_events")))
}

// routerCounters reads the router's BFD session-down and BGP
// connection-dropped counters for the nodes, by node address.
func routerCounters(r *benchrun.Runner, c *l2lab.Cluster, nodes []netip.Addr) (bfdDowns, bgpDrops map[netip.Addr]int) {
	counters, err := c.Router.BFDCounters()
	if err != nil {
		r.Fatalf("reading FRR's BFD counters: %v", err)
	}
	neighbors, err := c.Router.Neighbors()
	if err != nil {
		r.Fatalf("reading FRR's neighbours: %v", err)
	}
	bfdDowns, bgpDrops = map[netip.Addr]int{}, map[netip.Addr]int{}
	for _, n := range nodes {
		bfdDowns[n] = counters[n].SessionDown
		bgpDrops[n] = neighbors[n].Dropped
	}
	return bfdDowns, bgpDrops
}

func sum[K comparable](m map[K]int) int {
	total := 0
	for _, v := range m {
		total += v
	}
	return total
}
