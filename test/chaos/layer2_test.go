//go:build e2e

package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/test/probe"
)

// TestLayer2 runs the layer-2 chaos scenarios on one lab (three speaker
// nodes, a client probing every VIP), each leaving it settled for the next.
func TestLayer2(t *testing.T) {
	l := startLab(t)
	t.Run("SpeakerChurn", func(t *testing.T) { testSpeakerChurn(t, l) })
	t.Run("InvalidConfig", func(t *testing.T) { testInvalidConfig(t, l) })
	t.Run("APIServerRestart", func(t *testing.T) { testAPIServerRestart(t, l) })
	t.Run("Partition", func(t *testing.T) { testPartition(t, l) })
}

// testSpeakerChurn restarts every speaker in turn, as a rolling update
// does: SIGTERM, wait for the exit, start it again, wait until settled.
func testSpeakerChurn(t *testing.T, l *lab) {
	c := l.c
	var rows []string
	var totalHTTP, sentHTTP int
	var all lossReport
	start := time.Now()
	for _, node := range c.Nodes {
		owned := 0
		for _, vip := range l.vips {
			if l.owner(vip) == node {
				owned++
			}
		}
		t0 := time.Now()
		c.StopSpeaker(node)
		c.StartSpeaker(node)
		settled := l.waitSettled(t, "after restarting the speaker on "+node)
		end := time.Now()
		loss := l.arpLoss(t0, end)
		sh, lh := l.probes.count(probe.HTTP, t0, end)
		var longest time.Duration
		episodes := 0
		for _, vip := range l.vips {
			d := l.arps.dual(vip, t0, end)
			longest, episodes = max(longest, d.longest), episodes+d.episodes
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %s | %s | %d / %d | %s (%d) | %.2f s |", node, owned, loss.cell(), l.longestGapAll(t0, end), lh, sh, longest.Round(time.Millisecond), episodes, settled.Seconds()))
		all.add(loss)
		totalHTTP, sentHTTP = totalHTTP+lh, sentHTTP+sh
		loss.require(t, "restarting "+node+": ", maxHTTPLossChurn)
	}
	t.Logf(`speaker churn: every speaker restarted in turn (SIGTERM, started again, settled), %d VIPs probed every %s

| restarted | VIPs it answered | %s | longest time a VIP went without an ARP reply | HTTP probes lost / sent | two nodes answering one VIP: longest episode (episodes) | SIGTERM → settled |
|---|---|---|---|---|---|---|
%s
| all (%.1f s) | | %s | | %d / %d | | |
`, len(l.vips), probe.DefaultInterval, lossHeader, strings.Join(rows, "\n"), time.Since(start).Seconds(), all.cell(), totalHTTP, sentHTTP)
	requireHTTPLossAtMost(t, "speaker churn", totalHTTP, sentHTTP, maxHTTPLossChurn)
}
