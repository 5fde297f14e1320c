//go:build e2e

// Package e2e runs IronLB's binaries on real packets: speakers in node
// network namespaces on a bridge, a client namespace, a real apiserver
// reachable through the bridge's gateway (test/l2lab).
package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/test/l2lab"
)

// TestLayer2 runs every layer-2 scenario on one lab: one apiserver,
// three speakers. Scenarios that take a node down bring it back, except
// the last.
func TestLayer2(t *testing.T) {
	c := l2lab.Start(t, l2lab.Options{Nodes: 3})
	c.KeepLogsOnFailure(t)
	t.Run("ExternalTrafficPolicyLocal", func(t *testing.T) { testExternalTrafficPolicyLocal(t, c) })
	t.Run("IPv6", func(t *testing.T) { testIPv6(t, c) })
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
