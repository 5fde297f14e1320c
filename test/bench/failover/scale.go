package main

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ironlb/ironlb/test/bench/benchrun"
	"github.com/ironlb/ironlb/test/l2lab"
)

// scaleOptions are the knobs of -scale.
type scaleOptions struct {
	lab         l2lab.Options // Nodes is set per size
	vipsPerNode int
	joinLimit   time.Duration // how long a join storm may take to converge
	idle        time.Duration // the quiet window measured after it
	restSweep   time.Duration // how often each VIP is asked for in it
	runs        int           // hard kills per size
	interval    time.Duration // the kill prober's interval
	settle      time.Duration
	logs        string // when set, every process's output is kept under it, per size
}

// scaleRow is what one cluster size measured.
type scaleRow struct {
	nodes, vips    int
	converged      bool
	setup          time.Duration // all speakers started → one owner per VIP
	cpuMean        float64       // % of a core per speaker at rest
	cpuMax         float64
	rssMean        float64 // MiB
	pktsPerSec     float64 // memberlist packets sent per node per second, mean
	bytesPerSec    float64
	changes        int // owner changes over the idle window
	splits         int
	outages        []time.Duration
	killsNoOwner   int // kills after which no node took the VIP over
	killsCompleted int
}

// runScale measures, for each cluster size in turn on a fresh lab, what
// issue 20's scaling law asks: the join storm of every speaker started at
// once, the cost of a speaker at rest, the memberlist traffic per node,
// owner changes while nothing fails, and the hard-kill outage.
func runScale(r *benchrun.Runner, sizes []int, o scaleOptions) {
	var rows []scaleRow
	for _, n := range sizes {
		row := measureSize(r.Child(), n, o)
		rows = append(rows, row)
		fmt.Printf("\n%s\n\n", formatScaleRow(row))
	}
	fmt.Printf("\n| nodes | VIPs | join storm → one owner per VIP | speaker CPU at rest, mean / max | speaker RSS | memberlist out per node | owner changes in %s idle (splits) | hard kill, ARP outage | runs |\n|---|---|---|---|---|---|---|---|---|\n", o.idle)
	for _, row := range rows {
		fmt.Println(formatScaleRow(row))
	}
}

func formatScaleRow(row scaleRow) string {
	setup := fmt.Sprintf("%.1f s", row.setup.Seconds())
	if !row.converged {
		setup = "not within " + setup
	}
	kills := benchrun.Summary(row.outages)
	if row.killsNoOwner > 0 {
		kills += fmt.Sprintf("; %d kills without a new owner in 10 s", row.killsNoOwner)
	}
	return fmt.Sprintf("| %d | %d | %s | %.1f / %.1f %% of a core | %.0f MiB | %.0f packets/s, %.1f KiB/s | %d (%d) | %s | %d |",
		row.nodes, row.vips, setup, row.cpuMean, row.cpuMax, row.rssMean, row.pktsPerSec, row.bytesPerSec/1024, row.changes, row.splits, kills, row.killsCompleted)
}

// measureSize runs one lab of n nodes and tears it down.
func measureSize(r *benchrun.Runner, n int, o scaleOptions) scaleRow {
	defer r.Done()
	row := scaleRow{nodes: n, vips: n * o.vipsPerNode}
	opts := o.lab
	opts.Nodes, opts.DeferSpeakers = n, true
	opts.Pool = "10.251.0.0/20" // room for every size's VIPs, inside the lab only
	fmt.Printf("• %d nodes: starting the lab, %d Services before any speaker\n", n, row.vips)
	c := l2lab.Start(r, opts)
	vipStrings := c.CreateServices("svc", row.vips, c.Nodes...)
	s, vips := sweepVIPs(r, c, vipStrings)
	defer s.close()
	countMemberlist(r, c)

	s.record()
	start := time.Now()
	c.StartSpeakers()
	fmt.Printf("• %d speakers started in %s\n", n, time.Since(start).Round(time.Millisecond))
	var owners map[netip.Addr]string
	row.setup, owners, row.converged = waitOneOwnerEach(s, vips, start, o.joinLimit)
	if !row.converged {
		fmt.Printf("• no single owner per VIP within %s: %s\n", o.joinLimit, describeAnswers(c, s, vips, time.Now().Add(-time.Second)))
		owners = lastAnswers(s, vips)
	} else {
		fmt.Printf("• one owner per VIP %.1f s after the speakers started: %s\n", row.setup.Seconds(), formatCounts(ownedPerNode(c, owners)))
	}
	_ = s.stopRecording()

	// At rest: every VIP asked for every restSweep (and every announcement
	// heard). Each request is a broadcast that every speaker reads: little
	// beside what is measured on a small cluster, most of it on a large one.
	restSweep := o.restSweep
	// Each counter is read with its own clock: reading every node's
	// packet counters takes a while (one iptables per node), and at 135
	// nodes under load long enough to count seconds of CPU against none
	// of the window.
	pkts0, pktsStart := memberlistCounters(r, c), time.Now()
	cpu0, idleStart := c.SpeakerCPU(), time.Now()
	s.record()
	for time.Since(idleStart) < o.idle {
		s.sweep(vips, restSweep)
	}
	history := s.stopRecording()
	cpu1, took := c.SpeakerCPU(), time.Since(idleStart)
	pktsTook, pkts1 := time.Since(pktsStart), memberlistCounters(r, c)
	row.changes, row.splits = countOwnerChanges(c, vips, owners, history, idleStart, restSweep)
	var cpus []float64
	for node, t := range cpu1 {
		cpus = append(cpus, 100*float64(t-cpu0[node])/float64(took))
	}
	row.cpuMean, row.cpuMax = mean(cpus), slices.Max(append(cpus, 0))
	var rss []float64
	for _, b := range c.SpeakerRSS() {
		rss = append(rss, float64(b)/(1<<20))
	}
	row.rssMean = mean(rss)
	var pkts, bytes []float64
	for node, after := range pkts1 {
		pkts = append(pkts, float64(after.packets-pkts0[node].packets)/pktsTook.Seconds())
		bytes = append(bytes, float64(after.bytes-pkts0[node].bytes)/pktsTook.Seconds())
	}
	row.pktsPerSec, row.bytesPerSec = mean(pkts), mean(bytes)
	fmt.Printf("• at rest for %s, each VIP asked for every %s: %d owner changes (%d splits); CPU per speaker mean %.1f %%, max %.1f %%; memberlist %.0f packets/s per node\n",
		took.Round(time.Second), restSweep, row.changes, row.splits, row.cpuMean, row.cpuMax, row.pktsPerSec)

	row.outages, row.killsNoOwner = hardKills(r, c, vipStrings[0], o)
	row.killsCompleted = len(row.outages) + row.killsNoOwner
	if o.logs != "" {
		dir := filepath.Join(o.logs, fmt.Sprintf("%d-nodes", n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.Fatalf("keeping the logs: %v", err)
		}
		if err := c.WriteLogs(dir); err != nil {
			r.Fatalf("keeping the logs: %v", err)
		}
		fmt.Printf("• every process's output is in %s\n", dir)
	}
	return row
}

// waitOneOwnerEach sweeps every VIP each quarter second until, for a whole
// second, every VIP was answered by exactly one node and always the same
// one; it returns when that second began (from start) and the owners.
func waitOneOwnerEach(s *sweeper, vips []netip.Addr, start time.Time, limit time.Duration) (time.Duration, map[netip.Addr]string, bool) {
	const round, stableRounds = 250 * time.Millisecond, 4
	var streak []map[netip.Addr]string
	var streakStart time.Time
	for time.Since(start) < limit {
		from := time.Now()
		s.sweep(vips, round)
		owners, ok := singleAnswerers(s, vips, from, time.Now())
		if ok && len(streak) > 0 && !maps.Equal(owners, streak[len(streak)-1]) {
			streak = nil
		}
		if !ok {
			streak = nil
			continue
		}
		if len(streak) == 0 {
			streakStart = from
		}
		streak = append(streak, owners)
		if len(streak) == stableRounds {
			return streakStart.Sub(start), owners, true
		}
	}
	return limit, nil, false
}

// singleAnswerers returns who answered or announced each VIP in [from, to]
// while recording, and whether each was exactly one node.
func singleAnswerers(s *sweeper, vips []netip.Addr, from, to time.Time) (map[netip.Addr]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	owners := map[netip.Addr]string{}
	for _, ip := range vips {
		macs := answerers(s.history[ip], from, to)
		if len(macs) != 1 {
			return nil, false
		}
		for mac := range macs {
			owners[ip] = mac
		}
	}
	return owners, true
}

// answerers returns the MACs that answered or announced in [from, to].
func answerers(history []sample, from, to time.Time) map[string]bool {
	macs := map[string]bool{}
	for _, e := range history {
		if !e.at.Before(from) && !e.at.After(to) {
			macs[e.mac] = true
		}
	}
	return macs
}

// describeAnswers says how many VIPs had no answer, one, or several since
// from.
func describeAnswers(c *l2lab.Cluster, s *sweeper, vips []netip.Addr, from time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := map[int]int{}
	now := time.Now()
	for _, ip := range vips {
		counts[len(answerers(s.history[ip], from, now))]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d VIPs answered by %d nodes", counts[k], k))
	}
	return strings.Join(parts, ", ")
}

// lastAnswers returns who answered each VIP last.
func lastAnswers(s *sweeper, vips []netip.Addr) map[netip.Addr]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[netip.Addr]string{}
	for _, ip := range vips {
		out[ip] = s.last[ip].mac
	}
	return out
}

func ownedPerNode(c *l2lab.Cluster, owners map[netip.Addr]string) map[string]int {
	out := map[string]int{}
	for _, mac := range owners {
		out[c.NodeByMAC(mac)]++
	}
	return out
}

// hardKills kills the owner of vip o.runs times (link cut, then SIGKILL)
// and returns the outages an ARP client saw, timed from the link cut,
// and how many kills saw no new owner within 10 s.
func hardKills(r *benchrun.Runner, c *l2lab.Cluster, vip string, o scaleOptions) ([]time.Duration, int) {
	p, err := startARPProber(c.Client, vip, o.interval)
	if err != nil {
		r.Fatalf("starting the prober: %v", err)
	}
	defer p.close()
	var outages []time.Duration
	noOwner := 0
	for i := 1; i <= o.runs; i++ {
		time.Sleep(killDelay())
		old := p.lastMAC()
		victim := c.NodeByMAC(old)
		if victim == "" {
			r.Fatalf("no answer for %s before kill %d", vip, i)
		}
		t0 := time.Now()
		c.KillNode(victim)
		var gap time.Duration
		var ok bool
		for deadline := t0.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if gap, _, ok = p.outage(t0, old); ok {
				break
			}
		}
		if ok {
			outages = append(outages, gap)
			fmt.Printf("  kill %d of %s: ARP outage %s\n", i, victim, gap.Round(time.Millisecond))
		} else {
			noOwner++
			fmt.Printf("  kill %d of %s: no other node answered within 10 s\n", i, victim)
		}
		c.RestartNode(victim)
		time.Sleep(o.settle)
	}
	return outages, noOwner
}

// memberlistPort is the speakers' memberlist port (MetalLB's default).
const memberlistPort = "7946"

// countMemberlist makes every node's firewall count the memberlist packets
// it sends: UDP from the port, TCP to or from it.
func countMemberlist(r *benchrun.Runner, c *l2lab.Cluster) {
	for _, n := range c.Nodes {
		for _, rule := range [][]string{{"-p", "udp", "--sport", memberlistPort}, {"-p", "tcp", "-m", "multiport", "--ports", memberlistPort}} {
			if out, err := c.Lab.Exec(c.Hosts[n], append([]string{"iptables", "-A", "OUTPUT"}, rule...)...); err != nil {
				r.Fatalf("counting memberlist packets on %s: %v: %s", n, err, out)
			}
		}
	}
}

type packetCount struct{ packets, bytes int64 }

// memberlistCounters reads what countMemberlist counted, per node.
func memberlistCounters(r *benchrun.Runner, c *l2lab.Cluster) map[string]packetCount {
	out := map[string]packetCount{}
	for _, n := range c.Nodes {
		text, err := c.Lab.Exec(c.Hosts[n], "iptables", "-nvxL", "OUTPUT")
		if err != nil {
			r.Fatalf("reading %s's packet counters: %v: %s", n, err, text)
		}
		var sum packetCount
		for _, line := range strings.Split(string(text), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.Contains(line, memberlistPort) {
				continue
			}
			p, err1 := strconv.ParseInt(f[0], 10, 64)
			b, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				sum.packets += p
				sum.bytes += b
			}
		}
		out[n] = sum
	}
	return out
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// parseSizes reads -scale's comma-separated node counts.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("-scale %q: %q is not a node count of 2 or more", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}
