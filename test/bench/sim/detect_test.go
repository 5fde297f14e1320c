package main

import (
	"testing"
	"time"
)

// zeroDelay is p on a network without delay, loss or stalls, and with
// nothing between a decision and its announcement: only the timers
// count.
func zeroDelay(p Params) Params {
	p.Base, p.SchedMedian, p.StallRate, p.Loss, p.APIServerRTT, p.AnnounceDelay = 0, 0, 0, 0, 0, 0
	return p
}

// With no delay and no loss, a dead owner's successor announces its VIP
// within the watch's analytic bounds. The last ping it answered was sent
// within a watch interval I before the death; the next goes unanswered
// after the ping timeout T, and so does its retry, sent at once (an
// interval later without the retry): the silence is confirmed a time M
// after the first miss (T, or I). The death check waits FairSilences
// reach timeouts R for the handshake that never comes (the witnesses
// answer at once); it starts at the first miss and wants one silence
// more, so only what of 3R passes M is left to wait (C = max(0, 3R − M),
// 25 ms with today's timers; 2R without the early connection). A packet
// of the owner that arrived after that last answer forgives the first
// miss: one interval more. So the first gratuitous ARP comes after more
// than T+M+C and at most 2I+T+M+C (125–425 ms with today's timers), and
// without that forgiveness within I+T+M+C (275 ms).
func TestSuccessorDetectsAHardKillWithinTheBound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		timers string
		nodes  int
	}{
		{"today's timers, 3 nodes", presetToday, 3},
		{"today's timers, 10 nodes", presetToday, 10},
		{"today's timers, 40 nodes", presetToday, 40},
		{"memberlist's probe timeout at 500 ms, the watch's unchanged, 10 nodes", presetRelaxed, 10},
		{"fast memberlist, 3 nodes", presetFast, 3},
		{"fast memberlist, 40 nodes", presetFast, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := zeroDelay(mustParams(tc.timers, netLab))
			f := runFailover(p, tc.nodes, Experiment{Kills: 60, NodesPerLane: 100, FixedVIP: -1}, 11)
			if f.noOwner > 0 || len(f.garp) != 60 {
				t.Fatalf("%d kills taken over, %d without a new owner", len(f.garp), f.noOwner)
			}
			// From the last answered ping: an interval to the first miss's
			// ping, its timeout, the misses after it (each at once with
			// the retry, else an interval apart), then whatever the death
			// check's connection still takes.
			i, tmo := p.WatchInterval, p.WatchPingTimeout
			confirm := time.Duration(p.WatchMisses-1) * i
			if p.WatchRetry {
				confirm = time.Duration(p.WatchMisses-1) * tmo
			}
			r := p.ReachTimeout * time.Duration(p.FairSilences)
			if p.EarlyReach && p.WatchMisses > 1 {
				r = max(0, p.ReachTimeout*time.Duration(p.strictSilences())-confirm)
			}
			// The kill comes up to an interval after that ping; a packet of
			// the owner still heard forgives a miss, another interval.
			lo := tmo + confirm + r
			hi, unforgiven := lo+2*i, lo+i
			within := 0
			for _, d := range f.garp {
				if d <= lo || d > hi {
					t.Errorf("a takeover %v after the kill, outside (%v, %v]", d, lo, hi)
				}
				if d <= unforgiven {
					within++
				}
			}
			// Most kills meet no packet of the owner in the window.
			if within < len(f.garp)/3 {
				t.Errorf("only %d of %d takeovers within %v", within, len(f.garp), unforgiven)
			}
		})
	}
}

// Without the watch, memberlist's verdict moves the VIP: a probe of the
// dead member, its interval, then the suspicion timeout with no
// confirmation to shorten it, gossip, and the death check.
func TestMemberlistAloneDetectsAHardKill(t *testing.T) {
	p := zeroDelay(mustParams(presetNoWatch, netLab))
	p.SuspicionMult = 4
	f := runFailover(p, 3, Experiment{Kills: 40, NodesPerLane: 100, FixedVIP: -1}, 5)
	if f.noOwner > 0 {
		t.Fatalf("%d kills without a new owner", f.noOwner)
	}
	// Each of the 2 others probes the dead one within 2 intervals; the
	// probe's interval; suspicion 4 × 100 ms (k = 0 on 3 nodes); the
	// check's two silences.
	lo := p.ProbeInterval + suspicionTimeout(p.SuspicionMult, 3, p.ProbeInterval)
	hi := 3*p.ProbeInterval + suspicionTimeout(p.SuspicionMult, 3, p.ProbeInterval) + 2*p.ReachTimeout + 2*p.GossipInterval
	for _, d := range f.garp {
		if d < lo || d > hi {
			t.Errorf("a takeover %v after the kill, outside [%v, %v]", d, lo, hi)
		}
	}
}

// A seed gives one run.
func TestRunsAreReproducible(t *testing.T) {
	p := mustParams(presetToday, netLab)
	a := runFailover(p, 10, Experiment{Kills: 20, NodesPerLane: 100, FixedVIP: -1}, 3)
	b := runFailover(p, 10, Experiment{Kills: 20, NodesPerLane: 100, FixedVIP: -1}, 3)
	for i := range a.garp {
		if a.garp[i] != b.garp[i] {
			t.Fatalf("kill %d: %v then %v with the same seed", i, a.garp[i], b.garp[i])
		}
	}
	r1, r2 := runRest(p, 10, 0.05, time.Minute, 4), runRest(p, 10, 0.05, time.Minute, 4)
	if r1 != r2 {
		t.Errorf("two rest windows with one seed differ: %+v, %+v", r1, r2)
	}
}
