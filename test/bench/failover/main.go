// Command failover measures layer-2 failover as a client sees it: a client
// namespace asks for the VIP's MAC every 10 ms while the owning node's
// speaker is SIGKILLed and its link cut; the outage is the gap between the
// last answer from the old owner and the first from the new one.
//
//	go run ./test/bench/failover -runs 20
//
// -controller and -speaker take any binaries with MetalLB's flags, so
// another implementation can be measured on the same harness.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ironlb/ironlb/test/bench/benchrun"
	"github.com/ironlb/ironlb/test/l2lab"
	"github.com/ironlb/ironlb/test/netns"
)

// sample is one answer the prober got.
type sample struct {
	at  time.Time
	mac string
}

// prober asks for the VIP every interval from the client namespace; probe
// returns the MAC of the node that answered.
type prober struct {
	mu      sync.Mutex
	samples []sample
	failed  []time.Time // probes nobody answered in time
	stop    chan struct{}
	done    chan struct{}
}

// startARPProber asks for the VIP's MAC with an ARP request.
func startARPProber(client, vip string, interval time.Duration) (*prober, error) {
	c, err := netns.DialARP(client, "eth0")
	if err != nil {
		return nil, err
	}
	ip := netip.MustParseAddr(vip)
	return startProber(interval, func(deadline time.Time) (string, bool) {
		mac, err := netns.AskARP(c, ip, deadline)
		if err != nil {
			return "", false
		}
		return mac.String(), true
	}, func() { _ = c.Close() }), nil
}

// startTCPProber connects to the VIP from the client's own network stack:
// the client's kernel picks the MAC from its neighbour cache, which only
// the new owner's unsolicited announcements can correct within the
// outage. The node's server (l2lab's ServeNodes) answers with its MAC.
// A connect starts every interval, each in its own goroutine with
// tcpProbeTimeout to finish: a slow answer on a busy machine is late, not
// lost; a SYN sent to a dead node's MAC is. Samples are stamped with the
// connect's start.
func startTCPProber(client, vip string, interval time.Duration) *prober {
	addr := net.JoinHostPort(vip, "80")
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	probe := func(start time.Time) {
		mac, ok := tcpProbe(client, addr, start.Add(tcpProbeTimeout))
		p.mu.Lock()
		defer p.mu.Unlock()
		if ok {
			p.samples = insertSorted(p.samples, sample{at: start, mac: mac})
		} else {
			p.failed = append(p.failed, start)
		}
	}
	t := netns.Tick(interval, probe)
	go func() {
		defer close(p.done)
		<-p.stop
		t.Stop()
	}()
	return p
}

// tcpProbeTimeout is far above a connect's time on the lab (well under a
// millisecond) and far below the kernel's first SYN retransmission (1 s).
const tcpProbeTimeout = 100 * time.Millisecond

func tcpProbe(client, addr string, deadline time.Time) (string, bool) {
	var conn net.Conn
	if err := netns.Do(client, func() error {
		var err error
		d := net.Dialer{Deadline: deadline}
		conn, err = d.Dial("tcp", addr)
		return err
	}); err != nil {
		return "", false
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// The node's server speaks HTTP; its page is the node's MAC, the
	// response's last line.
	if _, err := conn.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		return "", false
	}
	resp, err := io.ReadAll(conn)
	if err != nil {
		return "", false
	}
	lines := strings.Split(strings.TrimSpace(string(resp)), "\n")
	if !strings.Contains(lines[0], " 200 ") {
		return "", false
	}
	return strings.TrimSpace(lines[len(lines)-1]), true
}

// insertSorted keeps samples ordered by time when probes finish out of
// order.
func insertSorted(ss []sample, s sample) []sample {
	i, _ := slices.BinarySearchFunc(ss, s, func(a, b sample) int { return a.at.Compare(b.at) })
	return slices.Insert(ss, i, s)
}

func startProber(interval time.Duration, probe func(deadline time.Time) (string, bool), closeFn func()) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer closeFn()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			next := time.Now().Add(interval)
			mac, ok := probe(next)
			p.mu.Lock()
			if ok {
				p.samples = append(p.samples, sample{at: time.Now(), mac: mac})
			} else {
				p.failed = append(p.failed, time.Now())
			}
			p.mu.Unlock()
			time.Sleep(time.Until(next))
		}
	}()
	return p
}

func (p *prober) close() { close(p.stop); <-p.done }

// longestGap returns the longest time without an answer in [from, to],
// counting from the last answer before from.
func (p *prober) longestGap(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var prev time.Time
	var longest time.Duration
	for _, s := range p.samples {
		if s.at.Before(from) {
			prev = s.at
			continue
		}
		if s.at.After(to) {
			break
		}
		if !prev.IsZero() {
			longest = max(longest, s.at.Sub(prev))
		}
		prev = s.at
	}
	if !prev.IsZero() {
		longest = max(longest, to.Sub(prev))
	}
	return longest
}

// lost counts the probes nobody answered in [from, to].
func (p *prober) lost(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, at := range p.failed {
		if !at.Before(from) && !at.After(to) {
			n++
		}
	}
	return n
}

// lastMAC returns who answered last.
func (p *prober) lastMAC() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.samples); n > 0 {
		return p.samples[n-1].mac
	}
	return ""
}

// killDelay is the wait before a kill: half a second for the probers to
// see the current owner, then a random part of a second, so that kills
// fall at any point of the watch's ping cycle. The runs' fixed waits
// (-settle) are whole numbers of cycles, and with them alone every kill
// came at about the same point of it: 110 ms into each 150 ms cycle on one
// bench, which gave the ARP outage as 60 ms shorter than a kill at a
// random moment.
func killDelay() time.Duration {
	return 500*time.Millisecond + rand.N(time.Second)
}

// takeoverFigure returns the failover figure the speaker logged for its
// first takeover after t0 (what ironlb_layer2_failover_seconds observed),
// waiting a moment for the line.
func takeoverFigure(p *l2lab.Proc, t0 time.Time) (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(p.All(), "\n") {
			var l struct {
				Msg             string  `json:"msg"`
				TS              float64 `json:"ts"`
				FailoverSeconds float64 `json:"failoverSeconds"`
			}
			if !strings.Contains(line, "took over from a failed member") || json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			if at := time.Unix(0, int64(l.TS*1e9)); at.After(t0) {
				return time.Duration(l.FailoverSeconds * float64(time.Second)), true
			}
		}
	}
	return 0, false
}

func formatRSS(m map[string]int64) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.1f MiB", n, float64(m[n])/(1<<20)))
	}
	return strings.Join(parts, ", ")
}

// outage returns the gap between the last answer from old and the first
// answer from any other MAC after t0, and that MAC. After a graceful stop
// the old owner may still answer after the new one did: the gap is then
// negative.
func (p *prober) outage(t0 time.Time, old string) (time.Duration, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last time.Time
	for _, s := range p.samples {
		if s.mac == old {
			last = s.at
		}
		if s.at.After(t0) && s.mac != old {
			if last.IsZero() {
				last = t0
			}
			return s.at.Sub(last), s.mac, true
		}
	}
	return 0, "", false
}

func main() {
	runs := flag.Int("runs", 10, "failovers to measure")
	nodes := flag.Int("nodes", 3, "speaker nodes")
	interval := flag.Duration("interval", 10*time.Millisecond, "client ARP probe interval")
	controller := flag.String("controller", "", "controller binary (default: build IronLB's)")
	speaker := flag.String("speaker", "", "speaker binary (default: build IronLB's)")
	speakerArgs := flag.String("speaker-args", "", "extra space-separated speaker arguments (e.g. memberlist timers)")
	graceful := flag.Bool("graceful", false, "stop the owner's speaker with SIGTERM (a rolling restart) instead of SIGKILL and a cut link")
	soak := flag.Duration("soak", 0, "instead of failovers: saturate both cores and drop 5% of packets into every node for this long while watching every VIP (at least 10 owned by each node; -services, default 15 per node), and count false alarms; speakers serve metrics")
	loss := flag.Float64("loss", 0.05, "with -soak: share of packets into each node dropped")
	services := flag.Int("services", 1, "LoadBalancer Services; above 1, one run kills the node owning the most VIPs and reports when each came back")
	sweep := flag.Duration("sweep", 0, "with -services: ask for every missing VIP this often after the kill; 0 listens for the new owners' announcements only, then confirms")
	verbose := flag.Bool("v", false, "print, per run, every lost probe and every change of answering node after the node came back")
	settle := flag.Duration("settle", 3*time.Second, "wait after a node returns before the next run")
	scale := flag.String("scale", "", "instead of one lab: for each comma-separated node count (3,10,20,40), a fresh lab whose speakers all start together; prints the join storm's time to one owner per VIP, CPU, RSS and memberlist traffic at rest, owner changes over -idle, and -runs hard kills")
	idle := flag.Duration("idle", time.Minute, "with -scale: the window at rest in which owner changes are counted")
	joinLimit := flag.Duration("join-limit", time.Minute, "with -scale: how long the join storm may take to give every VIP one owner")
	restSweep := flag.Duration("rest-sweep", 500*time.Millisecond, "with -scale: at rest, each VIP is asked for this often; every request is a broadcast each speaker reads (135 nodes' 270 VIPs every 500 ms make 540 a second)")
	vipsPerNode := flag.Int("vips-per-node", 2, "with -scale: LoadBalancer Services per node")
	logs := flag.String("logs", "", "with -scale: keep every process's output (speakers, controller) in this directory, one subdirectory per size")
	flag.Parse()

	// envtest logs through controller-runtime; unset, its logger prints a
	// warning with a stack trace into the report once a later lab starts.
	ctrllog.SetLogger(logr.Discard())
	r := benchrun.New()
	defer r.Done()
	if *scale != "" {
		sizes, err := parseSizes(*scale)
		if err != nil {
			r.Fatalf("%v", err)
		}
		runScale(r, sizes, scaleOptions{
			lab:         l2lab.Options{Controller: *controller, Speaker: *speaker, SpeakerArgs: strings.Fields(*speakerArgs)},
			vipsPerNode: *vipsPerNode, joinLimit: *joinLimit, idle: *idle, restSweep: *restSweep, runs: *runs, interval: *interval, settle: *settle,
			logs: *logs,
		})
		return
	}

	fmt.Printf("• starting the lab: %d speaker nodes, a client, apiserver on the gateway\n", *nodes)
	opts := l2lab.Options{Nodes: *nodes, Controller: *controller, Speaker: *speaker, SpeakerArgs: strings.Fields(*speakerArgs)}
	if *soak > 0 {
		*services = max(*services, 15**nodes)
		opts.Metrics = true
	}
	vipRange := "10.250.0.192/26" // holds the lab's default IPv4 pool
	if *services > 1 {
		opts.Pool = "10.251.0.0/20" // room for 4,096 VIPs, inside the lab only
		vipRange = opts.Pool
	}
	c := l2lab.Start(r, opts)
	c.ServeNodes(vipRange)
	if *services > 1 {
		start := time.Now()
		fmt.Printf("• creating %d Services\n", *services)
		defer func() { fmt.Printf("• done after %s\n", time.Since(start).Round(time.Second)) }()
		vips := c.CreateServices("svc", *services, c.Nodes...)
		if *soak > 0 {
			every := *sweep
			if every == 0 {
				every = 100 * time.Millisecond
			}
			runSoak(r, c, vips, *soak, every, *loss)
			return
		}
		runMany(r, c, vips, *runs, *sweep, *settle)
		return
	}
	vip := c.CreateService("svc1", c.Nodes...)
	c.Eventually("a single node answering "+vip, 60*time.Second, func() string {
		if macs := c.Arping(vip, 1); len(macs) != 1 {
			return fmt.Sprintf("answered by %v", macs)
		}
		return ""
	})
	time.Sleep(time.Second)
	fmt.Printf("• speaker RSS with one Service: %s\n", formatRSS(c.SpeakerRSS()))
	arpP, err := startARPProber(c.Client, vip, *interval)
	if err != nil {
		r.Fatalf("starting the prober: %v", err)
	}
	defer arpP.close()
	tcpP := startTCPProber(c.Client2, vip, *interval)
	defer tcpP.close()

	var arpOut, tcpOut, backARP, backTCP, speakerSaid, speakerOver []time.Duration
	var lostARP, lostTCP int
	how := "SIGKILL + link cut"
	if *graceful {
		how = "SIGTERM"
	}
	fmt.Printf("\nowner stopped by %s; then the node comes back\n\n", how)
	fmt.Printf("| run | stopped | new owner | ARP outage | TCP outage | new owner's failover figure (over the ARP outage) | back: owner | back: ARP probes lost (longest gap) | back: TCP probes lost (longest gap) |\n|---|---|---|---|---|---|---|---|---|\n")
	for i := 1; i <= *runs; i++ {
		time.Sleep(killDelay()) // the probers see the current owner
		old := arpP.lastMAC()
		victim := c.NodeByMAC(old)
		if victim == "" {
			r.Fatalf("no answer for %s before run %d", vip, i)
		}
		if tcp := tcpP.lastMAC(); tcp != old {
			r.Fatalf("before run %d the TCP client reaches %s but ARP says %s", i, c.NodeByMAC(tcp), victim)
		}
		t0 := time.Now()
		if *graceful {
			go c.StopSpeaker(victim)
		} else {
			c.KillNode(victim)
		}
		var gapARP, gapTCP time.Duration
		var newMAC string
		c.Eventually("a new owner for "+vip, 30*time.Second, func() string {
			var ok bool
			if gapARP, newMAC, ok = arpP.outage(t0, old); !ok {
				return "no ARP answer from another node yet"
			}
			if gapTCP, _, ok = tcpP.outage(t0, old); !ok {
				return "no TCP answer from another node yet"
			}
			return ""
		})
		// After a graceful stop the old owner may still answer after the
		// new one did: no outage.
		gapARP, gapTCP = max(gapARP, 0), max(gapTCP, 0)
		arpOut, tcpOut = append(arpOut, gapARP), append(tcpOut, gapTCP)
		said := "-"
		if !*graceful {
			if f, ok := takeoverFigure(c.Speaker(c.NodeByMAC(newMAC)), t0); ok {
				speakerSaid, speakerOver = append(speakerSaid, f), append(speakerOver, f-gapARP)
				said = fmt.Sprintf("%s (%+d ms)", f.Round(time.Millisecond), (f - gapARP).Milliseconds())
			}
		}
		if *graceful {
			c.StopSpeaker(victim) // waits for the exit started above
		}
		back := time.Now()
		c.RestartNode(victim)
		time.Sleep(*settle)
		end := time.Now()
		gARP, gTCP := arpP.longestGap(back, end), tcpP.longestGap(back, end)
		lARP, lTCP := arpP.lost(back, end), tcpP.lost(back, end)
		if *verbose {
			for name, pp := range map[string]*prober{"ARP": arpP, "TCP": tcpP} {
				pp.mu.Lock()
				for _, f := range pp.failed {
					if f.After(back) && f.Before(end) {
						fmt.Printf("    %s probe lost at node start +%s\n", name, f.Sub(back).Round(time.Millisecond))
					}
				}
				for i := 1; i < len(pp.samples); i++ {
					a, b := pp.samples[i-1], pp.samples[i]
					if b.at.After(back) && b.at.Before(end) && a.mac != b.mac {
						fmt.Printf("    %s answered by %s, then %s at node start +%s\n", name, c.NodeByMAC(a.mac), c.NodeByMAC(b.mac), b.at.Sub(back).Round(time.Millisecond))
					}
				}
				pp.mu.Unlock()
			}
		}
		backARP, backTCP = append(backARP, gARP), append(backTCP, gTCP)
		lostARP, lostTCP = lostARP+lARP, lostTCP+lTCP
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %d (%s) | %d (%s) |\n", i, victim, c.NodeByMAC(newMAC), gapARP.Round(time.Millisecond), gapTCP.Round(time.Millisecond),
			said, c.NodeByMAC(arpP.lastMAC()), lARP, gARP.Round(time.Millisecond), lTCP, gTCP.Round(time.Millisecond))
	}
	fmt.Printf("\n%d runs, %d nodes, probes every %s\n", len(arpOut), *nodes, *interval)
	fmt.Printf("  outage seen by ARP requests:             %s\n", benchrun.Summary(arpOut))
	fmt.Printf("  outage seen by TCP connects:             %s\n", benchrun.Summary(tcpOut))
	if len(speakerSaid) > 0 {
		fmt.Printf("  the new owner's failover figure (ironlb_layer2_failover_seconds, from its log): %s\n", benchrun.Summary(speakerSaid))
		fmt.Printf("  that figure minus the ARP outage:          %s\n", benchrun.Summary(speakerOver))
	}
	fmt.Printf("  node back: probes lost ARP %d, TCP %d; longest gap between answers ARP %s; TCP %s\n", lostARP, lostTCP, benchrun.Summary(backARP), benchrun.Summary(backTCP))
	fmt.Printf("• speaker RSS after the runs: %s\n", formatRSS(c.SpeakerRSS()))
}
