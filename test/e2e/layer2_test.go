//go:build e2e

// Package e2e runs IronLB's binaries on real packets: speakers in node
// network namespaces on a bridge, a client namespace, a real apiserver
// reachable through the bridge's gateway (test/l2lab).
package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/test/l2lab"
	"github.com/ironlb/ironlb/test/netns"
)

// TestLayer2 runs every layer-2 scenario on one lab: one apiserver,
// three speakers. Scenarios that take a node down bring it back, except
// the last.
func TestLayer2(t *testing.T) {
	c := l2lab.Start(t, l2lab.Options{Nodes: 3})
	c.KeepLogsOnFailure(t)
	t.Run("ExternalTrafficPolicyLocal", func(t *testing.T) { testExternalTrafficPolicyLocal(t, c) })
	t.Run("IPv6", func(t *testing.T) { testIPv6(t, c) })
	t.Run("FrozenSpeaker", func(t *testing.T) { testFrozenSpeaker(t, c) })
	t.Run("InterfaceDown", func(t *testing.T) { testInterfaceDown(t, c) })
	t.Run("AsymmetricLoss", func(t *testing.T) { testAsymmetricLoss(t, c) })
	t.Run("SeedAndFailover", func(t *testing.T) { testSeedAndFailover(t, c) })
}

// testExternalTrafficPolicyLocal: with externalTrafficPolicy Local only a
// node with a ready endpoint announces; when the endpoints move, so does
// the VIP; with no ready endpoint nobody answers.
func testExternalTrafficPolicyLocal(t *testing.T, c *l2lab.Cluster) {
	only := c.Nodes[2]
	vip := c.CreateServiceWith("local", l2lab.ServiceOptions{Local: true}, only)
	if got := waitOneStatus(t, c, "local", ""); got != only {
		t.Errorf("ServiceL2Status on %s, want %s, the only node with an endpoint", got, only)
	}
	waitAnsweredBy(t, c, vip, only)

	next := c.Nodes[0]
	c.SetReadyEndpoints("local", next)
	waitAnsweredBy(t, c, vip, next)
	if got := waitOneStatus(t, c, "local", only); got != next {
		t.Errorf("after the endpoint moved, ServiceL2Status on %s, want %s", got, next)
	}

	c.SetReadyEndpoints("local")
	c.Eventually("nobody answering "+vip, 30*time.Second, func() string {
		if macs := c.Arping(vip, 1); len(macs) > 0 {
			return fmt.Sprintf("answered by %v", macs)
		}
		if nodes := c.StatusOwners("local"); len(nodes) > 0 {
			return fmt.Sprintf("statuses on %v", nodes)
		}
		return ""
	})
}

// takeoverGuard bounds a hard-kill takeover in the e2e: several times the
// 300 ms target, so only a regression to multi-second failover (memberlist's
// default timers, a missed gratuitous announcement) trips it.
const takeoverGuard = 2 * time.Second

// testIPv6: an IPv6 VIP is answered over NDP (ndisc6) by exactly the node
// in ServiceL2Status, and by another one after that node is killed.
func testIPv6(t *testing.T, c *l2lab.Cluster) {
	vip := c.CreateServiceWith("svc6", l2lab.ServiceOptions{IPv6: true}, c.Nodes...)
	owner := waitOneStatus(t, c, "svc6", "")
	waitAnsweredBy(t, c, vip, owner)
	c.KillNode(owner)
	var next string
	c.Eventually("another node answering "+vip, 30*time.Second, func() string {
		macs := c.NDisc(vip)
		if len(macs) != 1 || c.NodeByMAC(macs[0]) == owner || c.NodeByMAC(macs[0]) == "" {
			return fmt.Sprintf("answered by %v", macs)
		}
		next = c.NodeByMAC(macs[0])
		return ""
	})
	if got := waitOneStatus(t, c, "svc6", owner); got != next {
		t.Errorf("ServiceL2Status names %s, but %s answers NDP", got, next)
	}
	// The returning node takes its VIP back (MetalLB's order), alone; the
	// next subtest starts from that settled cluster, not from a speaker
	// still joining.
	c.RestartNode(owner)
	waitAnsweredBy(t, c, vip, owner)
}

// waitAnsweredBy waits until the VIP is answered, over ARP or NDP by its
// family, by exactly the node.
func waitAnsweredBy(t *testing.T, c *l2lab.Cluster, vip, node string) {
	t.Helper()
	ask := func() []string { return c.Arping(vip, 1) }
	if strings.Contains(vip, ":") {
		ask = func() []string { return c.NDisc(vip) }
	}
	c.Eventually(vip+" answered by "+node+" alone", 30*time.Second, func() string {
		if macs := ask(); len(macs) != 1 || c.NodeByMAC(macs[0]) != node {
			return fmt.Sprintf("answered by %v", macs)
		}
		return ""
	})
}

// testSeedAndFailover replays the walkthrough's layer-2 steps on real
// packets: three speakers elect one owner for svc1's VIP, the client's
// arping gets exactly that node's MAC, ServiceL2Status and the
// nodeAssigned Event name it; the owner's speaker is killed (SIGKILL) and
// its link cut, and another node answers, exactly one, with the status
// following.
func testSeedAndFailover(t *testing.T, c *l2lab.Cluster) {
	vip := c.CreateService("svc1", c.Nodes[0], c.Nodes[1])
	owner := waitOneStatus(t, c, "svc1", "")
	c.Eventually("arping "+vip+" answered by the owner "+owner, 30*time.Second, func() string {
		if macs := c.Arping(vip, 1); len(macs) != 1 || c.NodeByMAC(macs[0]) != owner {
			return fmt.Sprintf("answered by %v", macs)
		}
		return ""
	})
	if macs := c.Arping(vip, 3); len(macs) != 1 {
		t.Errorf("three ARP requests answered by %v, want only %s", macs, owner)
	}
	out, err := c.Env.Kubectl("", "describe", "svc", "svc1", "-n", "default")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`announcing from node %q with protocol "layer2"`, owner); !strings.Contains(out, want) || !strings.Contains(out, "metallb-speaker") {
		t.Errorf("kubectl describe svc svc1 lacks the nodeAssigned event %q from metallb-speaker:\n%s", want, out)
	}

	// The walkthrough's `docker stop --signal 9` of the owning node. The
	// clock starts before KillNode cuts the link: from the fault, as the
	// client sees it.
	killed := time.Now()
	c.KillNode(owner)
	next, answered := c.ARPTakeover(vip, owner, 30*time.Second)
	outage := answered.Sub(killed)
	t.Logf("after SIGKILL of %s, %s answered ARP %s after the fault", owner, next, outage.Round(time.Millisecond))
	// A loose guard against a return to multi-second failover; the target
	// (300 ms) and its measurement live in make bench-failover.
	if outage > takeoverGuard {
		t.Errorf("hard-kill takeover took %s, more than the %s regression guard", outage.Round(time.Millisecond), takeoverGuard)
	}
	if macs := c.Arping(vip, 3); len(macs) != 1 {
		t.Errorf("after the failover, three ARP requests answered by %v, want only %s's", macs, next)
	}
	if got := waitOneStatus(t, c, "svc1", owner); got != next {
		t.Errorf("ServiceL2Status names %s, but %s answers ARP", got, next)
	}

	// A rolling restart: SIGTERM to the new owner's speaker. It leaves
	// memberlist and the last node takes over; the stopped speaker exits
	// cleanly within its linger.
	c.StopSpeaker(next)
	if err := c.Speaker(next).Cmd.ProcessState.ExitCode(); err != 0 {
		t.Errorf("speaker on %s exited with %d after SIGTERM, want 0", next, err)
	}
	var last string
	c.Eventually("the last node answering "+vip, 30*time.Second, func() string {
		macs := c.Arping(vip, 1)
		if len(macs) != 1 || c.NodeByMAC(macs[0]) == next || c.NodeByMAC(macs[0]) == owner {
			return fmt.Sprintf("answered by %v", macs)
		}
		last = c.NodeByMAC(macs[0])
		return ""
	})
	if got := waitOneStatus(t, c, "svc1", next); got != last {
		t.Errorf("ServiceL2Status names %s, but %s answers ARP", got, last)
	}
}

// waitOneStatus waits until exactly one ServiceL2Status for the Service
// exists, on a node other than not, and returns its node.
func waitOneStatus(t *testing.T, c *l2lab.Cluster, svc, not string) string {
	t.Helper()
	var node string
	c.Eventually("one ServiceL2Status for "+svc, 30*time.Second, func() string {
		nodes := c.StatusOwners(svc)
		if len(nodes) != 1 || nodes[0] == not || !slices.Contains(c.Nodes, nodes[0]) {
			return fmt.Sprintf("statuses on %v", nodes)
		}
		node = nodes[0]
		return ""
	})
	return node
}

// answers asks the client for vip over ARP every 10 ms for d and returns,
// in order, which node answered each request ("" for none) and when.
func answers(t *testing.T, c *l2lab.Cluster, vip string, d time.Duration) (nodes []string, at []time.Time) {
	t.Helper()
	client, err := netns.DialARP(c.Client, "eth0")
	if err != nil {
		t.Fatalf("ARP client: %v", err)
	}
	defer client.Close()
	addr := netip.MustParseAddr(vip)
	for end := time.Now().Add(d); time.Now().Before(end); {
		asked := time.Now()
		node := ""
		if mac, err := netns.AskARP(client, addr, asked.Add(10*time.Millisecond)); err == nil {
			node = c.NodeByMAC(mac.String())
		}
		nodes, at = append(nodes, node), append(at, time.Now())
		time.Sleep(time.Until(asked.Add(10 * time.Millisecond)))
	}
	return nodes, at
}

// firstOther returns when a node other than owner first answered.
func firstOther(nodes []string, at []time.Time, owner string) (string, time.Time) {
	for i, n := range nodes {
		if n != "" && n != owner {
			return n, at[i]
		}
	}
	return "", time.Time{}
}

// testFrozenSpeaker: the owner's node stays up but its speaker stops
// running (SIGSTOP: starved of CPU, or frozen). memberlist declares it
// dead; the others find its memberlist port still accepting connections
// (its kernel, which forwards the VIP's traffic, is up) and leave the VIP
// where it is for the hold (--ml-stalled-hold, 1 s): a freeze shorter than
// that moves nothing; a longer one is taken over after it, and the VIP
// returns when the speaker runs again. A speaker SIGKILLed on a live node
// refuses connections and is taken over at once.
func testFrozenSpeaker(t *testing.T, c *l2lab.Cluster) {
	vip := c.CreateService("frozen", c.Nodes...)
	owner := waitOneStatus(t, c, "frozen", "")
	waitAnsweredBy(t, c, vip, owner)
	speaker := c.Speaker(owner)
	// freeze stops the speaker for d, in the background; wait on the
	// channel it returns.
	freeze := func(d time.Duration) <-chan struct{} {
		done := make(chan struct{})
		if err := speaker.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(done)
			time.Sleep(d)
			if err := speaker.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT: %v", err)
			}
		}()
		return done
	}
	const hold = time.Second // the speakers' default --ml-stalled-hold

	// Shorter than the hold, far longer than the owner's successor takes
	// to notice it (two missed pings, 150–250 ms): nobody else answers.
	stopped := time.Now()
	thawed := freeze(600 * time.Millisecond)
	nodes, at := answers(t, c, vip, 3*time.Second)
	<-thawed
	silent := 0
	for _, n := range nodes {
		if n == "" {
			silent++
		}
	}
	// The freeze was long enough for the owner's successor to find it
	// silent and check it (its port still accepts: left to memberlist), or
	// for memberlist to declare it dead and a survivor to hold it; else
	// this checks nothing.
	held := false
	for _, n := range c.Nodes {
		for _, line := range strings.Split(c.Speaker(n).Output(400), "\n") {
			checked := strings.Contains(line, "stalled, not dead") || strings.Contains(line, "left to memberlist")
			held = held || (n != owner && checked && strings.Contains(line, `"node":"`+owner+`"`))
		}
	}
	if !held {
		t.Errorf("no speaker logged checking %s during its 600ms freeze (its successor's watch, or memberlist's verdict), so nothing was tested", owner)
	}
	if n, when := firstOther(nodes, at, owner); n != "" {
		t.Errorf("%s answered for %s %s after %s's speaker froze for 600ms; the VIP should not move", n, vip, when.Sub(stopped).Round(time.Millisecond), owner)
	} else {
		t.Logf("600 ms freeze of %s's speaker: no other node answered; %d of %d ARP requests (10 ms apart) unanswered while it was stopped",
			owner, silent, len(nodes))
	}
	waitAnsweredBy(t, c, vip, owner)

	// Longer than the hold: another node answers after the hold, and the
	// VIP returns (MetalLB's order) once the speaker runs again.
	stopped = time.Now()
	thawed = freeze(3 * time.Second)
	nodes, at = answers(t, c, vip, 4*time.Second)
	<-thawed
	n, when := firstOther(nodes, at, owner)
	switch took := when.Sub(stopped); {
	case n == "":
		t.Errorf("nobody took %s over while %s's speaker was frozen for 3s", vip, owner)
	case took < hold || took > hold+takeoverGuard:
		t.Errorf("%s took %s over %s after %s's speaker froze; want after the %s hold, within %s more", n, vip, took.Round(time.Millisecond), owner, hold, takeoverGuard)
	default:
		t.Logf("3 s freeze of %s's speaker: %s answered %s after SIGSTOP (hold %s)", owner, n, took.Round(time.Millisecond), hold)
	}
	waitAnsweredBy(t, c, vip, owner)

	// SIGKILL, the node up: its port refuses, taken over without a hold.
	killed := time.Now()
	speaker.Kill()
	next, answered := c.ARPTakeover(vip, owner, 30*time.Second)
	took := answered.Sub(killed)
	t.Logf("SIGKILL of %s's speaker, its node up: %s answered %s after the kill", owner, next, took.Round(time.Millisecond))
	if took > hold {
		t.Errorf("a speaker killed on a live node was taken over after %s, want no hold (< %s)", took.Round(time.Millisecond), hold)
	}
	c.StartSpeaker(owner)
	waitAnsweredBy(t, c, vip, owner)
}

// testInterfaceDown: the owner's link goes down while its node and speaker
// run on (issue 20's first fault that a dead process does not cover). A
// survivor takes the VIP within the takeover guard, timed from the link
// cut. While cut off, the owner's speaker sees every other member die and
// elects itself for every VIP; when the link comes back it must not
// answer for VIPs the others still own: over the reconvergence, every
// answer and gratuitous announcement for a VIP the owner never held comes
// from one node only, and in the end every VIP is answered by one node,
// the one its ServiceL2Status names.
func testInterfaceDown(t *testing.T, c *l2lab.Cluster) {
	vips := c.CreateServices("ifdown", 6, c.Nodes...)
	all, owners := vipOwners(t, c, "ifdown", vips)
	vip, owner := vips[0], owners[all[0]]
	waitAnsweredBy(t, c, vip, owner)

	cut := time.Now()
	if out, err := c.Lab.Exec(c.Hosts[owner], "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatalf("cutting %s's link: %v: %s", owner, err, out)
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		for _, args := range [][]string{{"ip", "link", "set", "eth0", "up"}, {"ip", "addr", "replace", c.NodeIP6(owner) + "/64", "dev", "eth0"}} {
			if out, err := c.Lab.Exec(c.Hosts[owner], args...); err != nil {
				t.Errorf("restoring %s's link: %v: %s", owner, err, out)
			}
		}
	}
	t.Cleanup(restore)
	next, answered := c.ARPTakeover(vip, owner, 30*time.Second)
	took := answered.Sub(cut)
	t.Logf("%s's link down, its speaker running: %s answered %s %s after the cut", owner, next, vip, took.Round(time.Millisecond))
	if took > takeoverGuard {
		t.Errorf("taken over %s after the link cut, more than the %s guard", took.Round(time.Millisecond), takeoverGuard)
	}
	// Long enough for the cut-off speaker to elect itself for everything.
	time.Sleep(2 * time.Second)

	doubled := map[netip.Addr]int{}
	afterHeal(t, c, all, restore, 5*time.Second, func(ip netip.Addr, macs []net.HardwareAddr, healed time.Time) {
		if len(macs) > 1 && owners[ip] != owner {
			doubled[ip]++
			if doubled[ip] == 1 {
				t.Logf("%s (owned by %s) claimed by %v %s after the link came back", ip, owners[ip], macs, time.Since(healed).Round(time.Millisecond))
			}
		}
	})
	for ip, n := range doubled {
		t.Errorf("%s, owned by %s throughout, was claimed by two nodes in %d rounds after %s's link came back", ip, owners[ip], n, owner)
	}
	waitEachAnsweredOnce(t, c, "ifdown", vips)
}

// vipOwners waits for each of the Services prefix-0, prefix-1, ... (whose
// VIPs are vips) to have one owner, and returns the VIPs and their owners.
func vipOwners(t *testing.T, c *l2lab.Cluster, prefix string, vips []string) ([]netip.Addr, map[netip.Addr]string) {
	t.Helper()
	owners := map[netip.Addr]string{}
	var all []netip.Addr
	for i, v := range vips {
		a := netip.MustParseAddr(v)
		all = append(all, a)
		owners[a] = waitOneStatus(t, c, fmt.Sprintf("%s-%d", prefix, i), "")
	}
	return all, owners
}

// afterHeal dials the client's ARP socket, heals the fault (or makes any
// change) and, for d, asks for every VIP of all over and over (one request
// each, every answer and gratuitous announcement for 50 ms), handing each
// round's answerers of every VIP, none for one unanswered, to each. It
// returns when the heal began.
func afterHeal(t *testing.T, c *l2lab.Cluster, all []netip.Addr, heal func(), d time.Duration, each func(ip netip.Addr, macs []net.HardwareAddr, healed time.Time)) time.Time {
	t.Helper()
	client, err := netns.DialARP(c.Client, "eth0")
	if err != nil {
		t.Fatalf("ARP client: %v", err)
	}
	defer client.Close()
	healed := time.Now()
	heal()
	for time.Since(healed) < d {
		seen, err := netns.ARPAnswerers(client, all, time.Now().Add(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range all {
			each(ip, seen[ip], healed)
		}
	}
	return healed
}

// waitEachAnsweredOnce waits until every VIP of the Services prefix-N is
// answered by one node, the one its ServiceL2Status names.
func waitEachAnsweredOnce(t *testing.T, c *l2lab.Cluster, prefix string, vips []string) {
	t.Helper()
	for i, v := range vips {
		final := waitOneStatus(t, c, fmt.Sprintf("%s-%d", prefix, i), "")
		waitAnsweredBy(t, c, v, final)
	}
}

// doubleGuard bounds how long a node whose frames were all lost answers
// its old VIPs beside their new owner once its frames flow again: the new
// owner asks it every 500 ms and nudges it to refute, then lingers 250 ms.
// Without the nudge it lasts until memberlist's next full state exchange
// (10 s).
const doubleGuard = 3 * time.Second

// testAsymmetricLoss: every frame the owner sends is dropped at the
// bridge while it hears everything (issue 20's asymmetric loss): its
// speaker runs on, believes it owns its VIPs, and nothing it answers
// arrives. A survivor takes the VIP over within the takeover guard, timed
// from the first frame dropped. The owner, which hears every other member,
// never claims another's VIP. When its frames flow again it answers its old
// VIPs beside their new owners until it learns it was declared dead and
// refutes: that window is bounded (doubleGuard), and in the end every VIP
// is answered by one node, the one its ServiceL2Status names.
func testAsymmetricLoss(t *testing.T, c *l2lab.Cluster) {
	vips := c.CreateServices("asym", 6, c.Nodes...)
	all, owners := vipOwners(t, c, "asym", vips)
	vip, owner := vips[0], owners[all[0]]
	waitAnsweredBy(t, c, vip, owner)

	fault := time.Now()
	lift := c.Lab.Silence(c.Hosts[owner])
	t.Cleanup(lift)
	next, answered := c.ARPTakeover(vip, owner, 30*time.Second)
	took := answered.Sub(fault)
	t.Logf("every frame %s sends dropped, its speaker running and hearing the others: %s answered %s %s after the first drop", owner, next, vip, took.Round(time.Millisecond))
	if took > takeoverGuard {
		t.Errorf("taken over %s after the drop began, more than the %s guard", took.Round(time.Millisecond), takeoverGuard)
	}
	time.Sleep(2 * time.Second) // memberlist settles on the owner's death; the owner refutes into the void

	var lastDouble time.Time
	others := map[netip.Addr]int{}
	healed := afterHeal(t, c, all, lift, doubleGuard+2*time.Second, func(ip netip.Addr, macs []net.HardwareAddr, _ time.Time) {
		switch {
		case len(macs) < 2:
		case owners[ip] == owner:
			lastDouble = time.Now()
		default:
			others[ip]++
		}
	})
	window := time.Duration(0)
	if !lastDouble.IsZero() {
		window = lastDouble.Sub(healed)
	}
	t.Logf("%s's frames flow again: its old VIPs answered by two nodes for %s", owner, window.Round(time.Millisecond))
	if window > doubleGuard {
		t.Errorf("%s's old VIPs were answered by two nodes for %s after its frames flowed again, guard %s", owner, window.Round(time.Millisecond), doubleGuard)
	}
	for ip, n := range others {
		t.Errorf("%s, owned by %s throughout, was claimed by two nodes in %d rounds", ip, owners[ip], n)
	}
	waitEachAnsweredOnce(t, c, "asym", vips)
}
