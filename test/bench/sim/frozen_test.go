package main

import (
	"testing"
	"time"
)

// A speaker that stops running while its node and kernel go on
// (docs/behaviour.md: a SIGSTOP, a pod start on a busy node) keeps its
// VIPs while it answers again within StalledHold of its watcher's check
// (which starts 150–250 ms into the freeze): its watcher finds it
// listening and holds it, as every member holds it once memberlist
// declares it dead, and nudges it; once awake it answers and refutes.
// Frozen past the hold, it is taken over on the watch's word (806b66b),
// and given back when it answers.
func TestAFrozenSpeakerKeepsItsVIPsUntilTheHoldEnds(t *testing.T) {
	for _, tc := range []struct {
		name          string
		timers        string
		frozen        time.Duration
		wantDeath     bool // memberlist declares it dead
		wantTakeovers bool // its successors take its VIPs over
	}{
		{"fast memberlist, shorter than a suspicion: nothing moves", presetFast, 300 * time.Millisecond, false, false},
		{"fast memberlist, declared dead, awake within the hold", presetFast, 900 * time.Millisecond, true, false},
		{"fast memberlist, frozen past the hold: taken over", presetFast, 4 * time.Second, true, true},
		{"today's timers, awake within the hold", presetToday, 900 * time.Millisecond, false, false},
		{"today's timers, frozen past the hold: taken over on the watch's word", presetToday, 3 * time.Second, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := zeroDelay(mustParams(tc.timers, netLab))
			p.Base = 50 * time.Microsecond
			s := newSim(p, 10, 21)
			s.runUntil(warmup)
			s.resetTally()
			victim := s.nodes[s.rank.owner(0, s.nodes[0].agentAlive)]
			s.freeze(victim, tc.frozen)
			s.runUntil(warmup + tc.frozen + 5*time.Second)
			if got := len(s.tally.falseDeaths) > 0; got != tc.wantDeath {
				t.Errorf("memberlist declared it dead: %v, want %v", got, tc.wantDeath)
			}
			if got := s.tally.falseTakeovers > 0; got != tc.wantTakeovers {
				t.Errorf("%d takeovers of its VIPs; want takeovers: %v", s.tally.falseTakeovers, tc.wantTakeovers)
			}
			// Awake again, it is everyone's member once more.
			for _, m := range s.nodes {
				if !m.mlAlive(victim.id) || !m.agentAlive[victim.id] {
					t.Errorf("node %d still holds it dead at the end (memberlist %v, agent %v)", m.id, m.mlAlive(victim.id), m.agentAlive[victim.id])
				}
			}
		})
	}
}

// With no loss and no stalls nothing is suspected, checked or moved.
func TestNothingMovesOnAQuietNetwork(t *testing.T) {
	p := zeroDelay(mustParams(presetToday, netLab))
	p.Base = 50 * time.Microsecond
	r := runRest(p, 20, 0, 10*time.Minute, 3)
	if r.falseTakeovers+r.falseDeaths+r.suspicions+r.watchChecks != 0 {
		t.Errorf("at rest without loss: %+v", r)
	}
}
