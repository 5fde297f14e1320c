//go:build e2e

package chaos

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/test/probe"
)

// memberlistPort is the speakers' memberlist port (MetalLB's default).
const memberlistPort = "7946"

// testPartition cuts one node from the others' memberlist traffic (TCP and
// UDP 7946 dropped both ways in its namespace) while the client still
// reaches every node. Each side takes the other for dead: the cut node
// announces every VIP, the others share them out, so a VIP has two
// answering nodes until the partition heals; the client must never be
// without an answer. After healing, memberlist merges the sides and one
// owner per VIP remains.
func testPartition(t *testing.T, l *lab) {
	c := l.c
	victim := l.owner(l.vips[0])
	if victim == "" {
		t.Fatalf("nobody answers %s", l.vips[0])
	}
	var rules [][]string
	for _, n := range c.Nodes {
		if n == victim {
			continue
		}
		for _, proto := range []string{"tcp", "udp"} {
			rules = append(rules,
				[]string{"INPUT", "-s", c.NodeIP(n), "-p", proto, "-m", "multiport", "--ports", memberlistPort, "-j", "DROP"},
				[]string{"OUTPUT", "-d", c.NodeIP(n), "-p", proto, "-m", "multiport", "--ports", memberlistPort, "-j", "DROP"})
		}
	}
	iptables := func(op string, rule []string) error {
		out, err := c.Lab.Exec(c.Hosts[victim], append([]string{"iptables", op}, rule...)...)
		if err != nil {
			return fmt.Errorf("iptables %s %s on %s: %w: %s", op, strings.Join(rule, " "), victim, err, out)
		}
		return nil
	}
	healed := false
	heal := func() {
		if healed {
			return
		}
		healed = true
		for _, r := range rules {
			if err := iptables("-D", r); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(heal)

	t0 := time.Now()
	for _, r := range rules {
		if err := iptables("-A", r); err != nil {
			t.Fatal(err)
		}
	}
	// Both sides see the split: the cut node alone, the others without it.
	split := waitMembers(t, l, func(node string) int {
		if node == victim {
			return 1
		}
		return len(c.Nodes) - 1
	})
	time.Sleep(*flagHold)
	tHeal := time.Now()
	heal()
	rejoined := waitMembers(t, l, func(string) int { return len(c.Nodes) })
	l.waitSettled(t, "after the partition healed")
	end := time.Now()

	var rows []string
	var lostHTTP, sentHTTP int
	var longestDual, lastAfterHeal time.Duration
	for i, vip := range l.vips {
		d := l.arps.dual(vip, t0, end)
		afterHeal := time.Duration(0)
		if d.last.After(tHeal) {
			afterHeal = d.last.Sub(tHeal)
		}
		answered := []string{}
		for _, mac := range l.arps.macsBetween(vip, t0, end) {
			answered = append(answered, c.NodeByMAC(mac))
		}
		slices.Sort(answered)
		rows = append(rows, fmt.Sprintf("| %s %s | %s | %s (%d) | %d | %s |", l.names[i], vip, strings.Join(answered, ", "),
			d.longest.Round(time.Millisecond), d.episodes, d.replies, afterHeal.Round(time.Millisecond)))
		longestDual, lastAfterHeal = max(longestDual, d.longest), max(lastAfterHeal, afterHeal)
	}
	arpLoss := l.arpLoss(t0, end)
	sentHTTP, lostHTTP = l.probes.count(probe.HTTP, t0, end)
	t.Logf(`partition: %s cut from the others' memberlist traffic (TCP/UDP %s) for %s after both sides noticed, the client reaching every node

| VIP | answered by, during | two nodes answering: longest episode (episodes) | replies while two answered | heal → last reply from a second node |
|---|---|---|---|---|
%s

| figure | value |
|---|---|
| cut → both sides see the split (members_alive 1 and %d) | %.2f s |
| longest time two nodes answered one VIP | %s |
| %s (cut → healed and settled) | %s |
| longest time a VIP went without any ARP reply (probes every 20 ms) | %s |
| HTTP probes lost / sent | %d / %d |
| heal → all members alive everywhere | %.2f s |
| heal → one node answering each VIP (last second answer) | %s |
`, victim, memberlistPort, *flagHold, strings.Join(rows, "\n"), len(c.Nodes)-1, split.Seconds(), longestDual.Round(time.Millisecond),
		lossHeader, arpLoss.cell(), l.longestGapAll(t0, end), lostHTTP, sentHTTP, rejoined.Seconds(), lastAfterHeal.Round(time.Millisecond))
	arpLoss.require(t, "partition: ", maxHTTPLossPartition)
	requireHTTPLossAtMost(t, "partition", lostHTTP, sentHTTP, maxHTTPLossPartition)
}

// waitMembers waits until every speaker reports the wanted number of
// members alive, and returns how long it took.
func waitMembers(t *testing.T, l *lab, want func(node string) int) time.Duration {
	t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < settleLimit {
		why = ""
		for _, n := range l.c.Nodes {
			v, err := scrape(l.c.MetricsURL(n), "ironlb_speaker_members_alive")
			if err != nil || int(v) != want(n) {
				why = fmt.Sprintf("%s: %v members alive, want %d (%v)", n, v, want(n), err)
				break
			}
		}
		if why == "" {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("members: %s after %s", why, settleLimit)
	return 0
}
