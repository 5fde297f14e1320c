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
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/arp"

	"github.com/ironlb/ironlb/test/l2lab"
	"github.com/ironlb/ironlb/test/netns"
)

// runner stands in for testing.T: cleanups run in reverse at the end, a
// fatal error runs them and exits.
type runner struct {
	cleanups []func()
}

func (r *runner) Helper()                        {}
func (r *runner) Cleanup(f func())               { r.cleanups = append(r.cleanups, f) }
func (r *runner) Errorf(format string, a ...any) { fmt.Fprintf(os.Stderr, "error: "+format+"\n", a...) }
func (r *runner) Fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "fatal: "+format+"\n", a...)
	r.done()
	os.Exit(1)
}
func (r *runner) done() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// sample is one answer the prober got.
type sample struct {
	at  time.Time
	mac string
}

// prober asks for the VIP every interval from the client namespace.
type prober struct {
	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	done    chan struct{}
}

// dialARP opens an ARP client on eth0 of the client namespace.
func dialARP(client string) (*arp.Client, error) {
	var c *arp.Client
	err := netns.Do(client, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	return c, err
}

func startProber(client, vip string, interval time.Duration) (*prober, error) {
	c, err := dialARP(client)
	if err != nil {
		return nil, err
	}
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	ip := netip.MustParseAddr(vip)
	go func() {
		defer close(p.done)
		defer c.Close()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			next := time.Now().Add(interval)
			_ = c.SetDeadline(next)
			if mac, err := c.Resolve(ip); err == nil {
				p.mu.Lock()
				p.samples = append(p.samples, sample{at: time.Now(), mac: mac.String()})
				p.mu.Unlock()
			}
			time.Sleep(time.Until(next))
		}
	}()
	return p, nil
}

func (p *prober) close() { close(p.stop); <-p.done }

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
	soak := flag.Duration("soak", 0, "instead of failovers: saturate both cores and drop 5% of packets into every node for this long, and count ownership changes (false alarms)")
	loss := flag.Float64("loss", 0.05, "with -soak: share of packets into each node dropped")
	services := flag.Int("services", 1, "LoadBalancer Services; above 1, one run kills the node owning the most VIPs and reports when each came back")
	settle := flag.Duration("settle", 3*time.Second, "wait after a node returns before the next run")
	flag.Parse()

	r := &runner{}
	defer r.done()
	fmt.Printf("• starting the lab: %d speaker nodes, a client, apiserver on the gateway\n", *nodes)
	opts := l2lab.Options{Nodes: *nodes, Controller: *controller, Speaker: *speaker, SpeakerArgs: strings.Fields(*speakerArgs)}
	if *services > 1 {
		opts.Pool = "10.251.0.0/20" // room for 4,096 VIPs, inside the lab only
	}
	c := l2lab.Start(r, opts)
	if *services > 1 {
		fmt.Printf("• creating %d Services\n", *services)
		runMany(r, c, c.CreateServices("svc", *services, c.Nodes...), 10**interval)
		return
	}
	vip := c.CreateService("svc1", c.Nodes...)
	c.Eventually("a single node answering "+vip, 60*time.Second, func() string {
		if macs := c.Arping(vip, 1); len(macs) != 1 {
			return fmt.Sprintf("answered by %v", macs)
		}
		return ""
	})
	p, err := startProber(c.Client, vip, *interval)
	if err != nil {
		r.Fatalf("starting the prober: %v", err)
	}
	defer p.close()

	if *soak > 0 {
		runSoak(r, c, p, *soak, *loss, *interval)
		return
	}

	var outages []time.Duration
	how := "SIGKILL + link cut"
	if *graceful {
		how = "SIGTERM"
	}
	fmt.Printf("\nowner stopped by %s\n\n| run | stopped | new owner | client-observed ARP outage | probes unanswered |\n|---|---|---|---|---|\n", how)
	for i := 1; i <= *runs; i++ {
		time.Sleep(500 * time.Millisecond) // the prober sees the current owner
		p.mu.Lock()
		old := ""
		if n := len(p.samples); n > 0 {
			old = p.samples[n-1].mac
		}
		p.mu.Unlock()
		victim := c.NodeByMAC(old)
		if victim == "" {
			r.Fatalf("no answer for %s before run %d", vip, i)
		}
		t0 := time.Now()
		if *graceful {
			go c.StopSpeaker(victim)
		} else {
			c.KillNode(victim)
		}
		var gap time.Duration
		var newMAC string
		c.Eventually("a new owner for "+vip, 30*time.Second, func() string {
			var ok bool
			if gap, newMAC, ok = p.outage(t0, old); !ok {
				return "no answer from another node yet"
			}
			return ""
		})
		if gap < 0 {
			gap = 0 // the old owner still answered after the new one did
		}
		outages = append(outages, gap)
		lost := max(0, int(gap / *interval)-1)
		fmt.Printf("| %d | %s | %s | %s | %d |\n", i, victim, c.NodeByMAC(newMAC), gap.Round(time.Millisecond), lost)
		c.RestartNode(victim)
		time.Sleep(*settle)
	}
	slices.Sort(outages)
	fmt.Printf("\n%d runs, %d nodes, probe every %s: p50 %s, max %s, min %s\n", len(outages), *nodes, *interval,
		outages[len(outages)/2].Round(time.Millisecond), outages[len(outages)-1].Round(time.Millisecond), outages[0].Round(time.Millisecond))
}

// runSoak counts ownership changes while both cores are saturated and a
// share of the packets into every node is dropped: each change is a false
// alarm, since no node fails.
func runSoak(r *runner, c *l2lab.Cluster, p *prober, d time.Duration, loss float64, interval time.Duration) {
	for _, n := range c.Nodes {
		if out, err := c.Lab.Exec(c.Hosts[n], "iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random",
			"--probability", fmt.Sprint(loss), "-j", "DROP"); err != nil {
			r.Fatalf("dropping packets into %s: %v: %s", n, err, out)
		}
	}
	var hogs []*exec.Cmd
	for range runtime.NumCPU() {
		h := exec.Command("sh", "-c", "while :; do :; done")
		if err := h.Start(); err != nil {
			r.Fatalf("starting a CPU hog: %v", err)
		}
		hogs = append(hogs, h)
	}
	r.Cleanup(func() {
		for _, h := range hogs {
			_ = h.Process.Kill()
			_ = h.Wait()
		}
	})
	fmt.Printf("• soak: %s with %d busy loops on %d cores and %.0f%% of packets into each node dropped\n", d, len(hogs), runtime.NumCPU(), loss*100)
	p.mu.Lock()
	start := len(p.samples)
	p.mu.Unlock()
	time.Sleep(d)
	p.mu.Lock()
	samples := slices.Clone(p.samples[start:])
	p.mu.Unlock()
	changes := 0
	for i := 1; i < len(samples); i++ {
		if samples[i].mac != samples[i-1].mac {
			changes++
			fmt.Printf("  owner changed at %s: %s → %s\n", samples[i].at.Format("15:04:05.000"), c.NodeByMAC(samples[i-1].mac), c.NodeByMAC(samples[i].mac))
		}
	}
	expected := int(d / interval)
	fmt.Printf("\nsoak %s, %d nodes, %.0f%% loss, cores saturated: %d ownership changes (false alarms); %d of ~%d ARP probes answered\n",
		d, len(c.Nodes), loss*100, changes, len(samples), expected)
}
