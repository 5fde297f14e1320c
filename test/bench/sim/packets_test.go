package main

import (
	"math"
	"testing"
	"time"
)

// At rest, with no loss and no delay, every node sends what the protocol
// says: memberlist's ping and the ack to someone else's ping per probe
// interval; the watch's ping to each predecessor and an ack to each
// member that watches it per watch interval; and a push-pull every
// PushPullInterval it starts and one it answers, InitiatorSegments +
// ResponderSegments TCP segments between them. On 3 nodes memberlist
// loses one probe round in 19: a node's shuffled list holds itself, and a
// round that finds itself last, shuffles, and finds itself first again
// gives up (memberlist's probe counts both against the list's length).
func TestPacketsAtRestMatchTheCount(t *testing.T) {
	for _, tc := range []struct {
		name        string
		timers      string
		nodes       int
		probeRounds float64 // share of probe ticks that probe someone
	}{
		{"3 nodes", presetToday, 3, 18.0 / 19},
		{"4 nodes: no round lost", presetToday, 4, 1},
		{"10 nodes", presetToday, 10, 1},
		{"3 nodes, fast memberlist", presetFast, 3, 18.0 / 19},
		{"3 nodes, before the watch", presetNoWatch, 3, 18.0 / 19},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := zeroDelay(mustParams(tc.timers, netLab))
			window := 30 * time.Minute
			r := runRest(p, tc.nodes, 0, window, 9)
			s := newSim(p, tc.nodes, 9)
			pairs := 0
			for _, nd := range s.nodes {
				pairs += len(nd.preds)
			}
			watch := 0.0
			if p.Watch {
				watch = 2 * float64(pairs) / float64(tc.nodes) / p.WatchInterval.Seconds()
			}
			probes := 2 * tc.probeRounds / p.ProbeInterval.Seconds()
			pushPull := float64(p.InitiatorSegments+p.ResponderSegments) / p.PushPullInterval.Seconds()
			for _, c := range []struct {
				what      string
				got, want float64
			}{
				{"probes", r.perNode[catProbe], probes},
				{"watch", r.perNode[catWatch], watch},
				{"push-pull", r.perNode[catPushPull], pushPull},
				{"gossip", r.perNode[catGossip], 0},
				{"total", r.packetsPerNode(), probes + watch + pushPull},
			} {
				if math.Abs(c.got-c.want) > 0.02*c.want+0.02 {
					t.Errorf("%s: %.3f packets/s per node, the count says %.3f", c.what, c.got, c.want)
				}
			}
		})
	}
}
