package main

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/test/lab/monitoring"
	"github.com/ironlb/ironlb/test/probe"
)

// request is one of the prober's HTTP requests to svc1.
type request struct {
	start, end time.Time
	ok         bool
}

func sortRequests(rs []request) {
	slices.SortFunc(rs, func(a, b request) int { return a.start.Compare(b.start) })
}

// outage is the client's outage the fault at t caused: from the last
// answer before the first request sent after t that went unanswered, to
// the first answer to a request sent after that one. Requests sent in the
// moment between t and the fault taking effect (the link takes a few ms to
// go down) may still be answered; they precede the outage, not end it.
// With no failure after t, it is the last answer before t and the first
// to a request sent after it.
func outage(reqs []request, t time.Time) (last, first time.Time) {
	from := t
	for _, r := range reqs {
		if !r.ok && !r.start.Before(t) && (from.Equal(t) || r.start.Before(from)) {
			from = r.start
		}
	}
	for _, r := range reqs {
		if r.ok && r.end.Before(from) && r.end.After(last) {
			last = r.end
		}
		if r.ok && !r.start.Before(from) && (first.IsZero() || r.end.Before(first)) {
			first = r.end
		}
	}
	return last, first
}

// failed counts the requests sent in [from, to) and those not answered.
func failed(reqs []request, from, to time.Time) (n, bad int) {
	for _, r := range reqs {
		if !r.start.Before(from) && r.start.Before(to) {
			n++
			if !r.ok {
				bad++
			}
		}
	}
	return n, bad
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// failover is step 7: the node announcing svc1 is killed (docker stop
// --signal 9) while mypc's prober asks svc1 over ARP and HTTP every 20 ms
// and Prometheus scrapes controllers, speakers and prober; then the node is
// started again. The picture of the failover goes to bin/demo.
func (d *demo) failover(ctx context.Context) error {
	const vip = "172.20.255.200"
	owners, err := d.owners(ctx)
	if err != nil {
		return err
	}
	owner := owners["svc1"]
	var m *monitor
	if err := step("Starting Prometheus (Debian's) on the lab and a prober in "+client+" (ARP and HTTP to svc1 every 20 ms)", func() error {
		var err error
		m, err = d.startMonitor(ctx, netip.MustParseAddr(vip))
		return err
	}); err != nil {
		return err
	}
	defer m.close()
	fmt.Printf("  Prometheus at %s scrapes the 2 controllers, the 4 speakers and the prober; the chart's dashboards read it\n", m.prom.URL)
	fmt.Printf("\n--- Failover: svc1 (%s) is announced from %s; %s probes it every %s while that node is killed\n",
		vip, owner, client, ms(probe.DefaultInterval))
	time.Sleep(2 * time.Second)
	before, err := m.prom.Phases(ctx)
	if err != nil {
		return err
	}

	fmt.Printf("\n$ ironlab node stop %s --signal 9   # docker stop %s --signal 9\n", owner, owner)
	// Time zero is the fault: the stop cuts the node's link first (a
	// node losing power), then SIGKILLs its processes and waits until
	// they have exited. Every figure below counts from it, as the client
	// saw it, not from when the stop returned.
	killed := time.Now()
	if err := d.st.StopNode(owner, syscall.SIGKILL); err != nil {
		return err
	}
	stopDone := time.Now()
	fmt.Printf("(link down, then every process of %s killed and exited, in %s)\n", owner, ms(stopDone.Sub(killed)))
	// Started again however the demo ends, so delete (or --keep) finds a
	// whole cluster.
	started := false
	defer func() {
		if !started {
			_ = d.st.StartNode(owner)
		}
	}()
	var newOwner string
	if err := step("Waiting for another node to announce svc1 and "+client+" to be answered", func() error {
		return poll(ctx, time.Minute, func() error {
			o, err := d.owners(ctx)
			if err != nil {
				return err
			}
			if newOwner = o["svc1"]; newOwner == "" || newOwner == owner {
				return fmt.Errorf("svc1 announced from %q", newOwner)
			}
			if !m.answeredSince(killed) {
				return fmt.Errorf("no answer since the kill")
			}
			return nil
		})
	}); err != nil {
		return err
	}
	// The node controller marks the node NotReady after
	// node-monitor-grace-period (50 s by default; the seed's config keeps
	// it). Until then a webpod on the killed node stays in svc1's
	// endpoints and kube-proxy still sends some requests there.
	hadPod := false
	if err := step("Waiting for "+owner+" NotReady and svc1's endpoints on it gone (node-monitor-grace-period)", func() error {
		return poll(ctx, 2*time.Minute, func() error {
			ready, err := d.output(ctx, "get", "node", owner, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
			if err != nil {
				return err
			}
			if ready == "True" {
				return fmt.Errorf("node %s still Ready", owner)
			}
			eps, err := d.output(ctx, "get", "endpointslices", "-l", "kubernetes.io/service-name=svc1",
				"-o", `jsonpath={range .items[*].endpoints[*]}{.nodeName}={.conditions.ready} {end}`)
			if err != nil {
				return err
			}
			if strings.Contains(eps, owner+"=") {
				hadPod = true
			}
			if strings.Contains(eps, owner+"=true") {
				return fmt.Errorf("svc1 endpoints: %s", eps)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	settled := time.Now()
	time.Sleep(time.Second)
	for _, args := range [][]string{{"get", "nodes"}, {"get", "servicel2status", "-n", namespace}} {
		if err := d.showKubectl(ctx, args...); err != nil {
			return err
		}
	}
	if _, err := d.arpingOwner(ctx, vip); err != nil {
		return err
	}
	reqs := m.requests(time.Time{})
	last, first := outage(reqs, killed)
	if last.IsZero() || first.IsZero() {
		return fmt.Errorf("the probe saw no answer before or after the kill")
	}
	fmt.Printf("\n%s, requesting svc1 every %s: last answer at %s, first answer at %s (the fault, link cut and SIGKILL, = 0)\n",
		client, ms(probe.DefaultInterval), ms(last.Sub(killed)), ms(first.Sub(killed)))
	fmt.Printf("⇒ outage seen by the client: %s; svc1 now announced from %s\n", ms(first.Sub(last)), newOwner)
	n, bad := failed(reqs, first, settled)
	fmt.Printf("  then, until %s was NotReady %.0fs after the kill: %d of %d requests failed", owner, settled.Sub(killed).Seconds(), bad, n)
	if hadPod {
		fmt.Printf(",\n  those kube-proxy sent to the webpod on the dead node (the seed's \"unstable\" phase)")
	}
	fmt.Println()
	if err := d.showTakeover(ctx, m, before, owner, killed, stopDone); err != nil {
		return err
	}
	started = true
	return d.restart(ctx, m, owner, newOwner, vip)
}

// showTakeover prints the takeover as the new owner's metrics recorded it
// (what the failover dashboard shows) and draws the picture.
func (d *demo) showTakeover(ctx context.Context, m *monitor, before monitoring.PhaseSums, owner string, killed, stopDone time.Time) error {
	var tk monitoring.Takeover
	if err := poll(ctx, 30*time.Second, func() error {
		var err error
		tk, err = m.prom.LastTakeover(ctx, "default/svc1", before)
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("\nThe new owner's metrics, from Prometheus (the \"IronLB failover timing\" dashboard):\n")
	fmt.Printf("  %s last answered the new owner's memberlist probes at %s (kill = 0), declared dead %s later (detection),\n",
		owner, ms(tk.LastContact.Sub(killed)), ms(tk.Detected.Sub(tk.LastContact)))
	fmt.Printf("  owners recomputed in %s (decision), announcing %s later (announce): takeover %s\n",
		ms(tk.Decided.Sub(tk.Detected)), ms(tk.Announced.Sub(tk.Decided)), ms(tk.Announced.Sub(tk.LastContact)))
	byMAC, err := d.nodeMACs()
	if err != nil {
		return err
	}
	// Printed relative to the repository, where make demo runs.
	rel := filepath.Join("bin", "demo", "failover-timeline.png")
	if err := m.drawTimeline(filepath.Join(d.root, rel), "svc1 (172.20.255.200): "+owner+" killed with signal 9", netip.MustParseAddr("172.20.255.200"), killed, stopDone, tk, byMAC); err != nil {
		return err
	}
	fmt.Printf("  the failover drawn from these numbers and every probe: %s\n", rel)
	return nil
}

// restart starts the killed node again (docker start) and shows where the
// VIP goes and what the client saw meanwhile.
func (d *demo) restart(ctx context.Context, m *monitor, node, during, vip string) error {
	fmt.Printf("\n--- %s comes back; %s keeps probing svc1 every %s\n", node, client, ms(probe.DefaultInterval))
	fmt.Printf("\n$ ironlab node start %s   # docker start %s\n", node, node)
	started := time.Now()
	if err := d.st.StartNode(node); err != nil {
		return err
	}
	if err := step("Waiting for "+node+" Ready, its speaker and pods Ready", func() error {
		return poll(ctx, 2*time.Minute, func() error {
			out, err := d.output(ctx, "get", "pods", "-A", "--field-selector", "spec.nodeName="+node,
				"-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(out) {
				if !strings.HasSuffix(f, "=True") {
					return fmt.Errorf("pods on %s: %s", node, out)
				}
			}
			if out == "" {
				return fmt.Errorf("no pods on %s yet", node)
			}
			ready, err := d.output(ctx, "get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
			if err == nil && ready != "True" {
				err = fmt.Errorf("node %s Ready=%s", node, ready)
			}
			return err
		})
	}); err != nil {
		return err
	}
	// The owner may move once the speaker is back; give it a moment.
	var owner string
	_ = step("Watching svc1's announcement settle (5 s)", func() error {
		time.Sleep(5 * time.Second)
		o, err := d.owners(ctx)
		owner = o["svc1"]
		return err
	})
	if err := d.showKubectl(ctx, "get", "servicel2status", "-n", namespace); err != nil {
		return err
	}
	if _, err := d.arpingOwner(ctx, vip); err != nil {
		return err
	}
	reqs := m.requests(started)
	n, bad := failed(reqs, started, time.Now())
	var gap time.Duration
	var prev time.Time
	for _, r := range reqs {
		if r.ok {
			if !prev.IsZero() && r.end.Sub(prev) > gap {
				gap = r.end.Sub(prev)
			}
			prev = r.end
		}
	}
	move := "stayed on " + owner
	if owner == node {
		move = "moved back to " + node
	} else if owner != during {
		move = "moved to " + owner
	}
	fmt.Printf("\n⇒ after %s started again the VIP %s (announced from %s while it was down);\n"+
		"  %d of %d requests to svc1 failed meanwhile, longest time without an answer %s\n",
		node, move, during, bad, n, ms(gap))
	return nil
}
