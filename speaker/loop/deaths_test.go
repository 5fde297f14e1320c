package loop

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	testclock "k8s.io/utils/clock/testing"

	"github.com/ironlb/ironlb/speaker/agent"
	"github.com/ironlb/ironlb/speaker/members"
)

// scriptedReacher answers Reach from a script (the last answer repeats)
// and, when refute is set, makes the nudged member refute.
type scriptedReacher struct {
	mu      sync.Mutex
	answers []members.Reachability
	reached int
	strict  int // of reached, through ReachStrict
	nudged  int
	refute  func()
}

func (s *scriptedReacher) Reach(context.Context, string) members.Reachability {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.answers[min(s.reached, len(s.answers)-1)]
	s.reached++
	return r
}

func (s *scriptedReacher) ReachStrict(ctx context.Context, addr string) members.Reachability {
	s.mu.Lock()
	s.strict++
	s.mu.Unlock()
	return s.Reach(ctx, addr)
}

func (s *scriptedReacher) strictCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.strict
}

func (s *scriptedReacher) Nudge(string) error {
	s.mu.Lock()
	s.nudged++
	refute := s.refute
	s.mu.Unlock()
	if refute != nil {
		refute()
	}
	return nil
}

func (s *scriptedReacher) calls() (reached, nudged int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reached, s.nudged
}

// logLines collects what the loop logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (c *logLines) logger() logr.Logger {
	return funcr.New(func(_, args string) {
		c.mu.Lock()
		c.lines = append(c.lines, args)
		c.mu.Unlock()
	}, funcr.Options{})
}

func (c *logLines) has(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// deathFixture is a loop on the test nodes with one Service: its VIP is
// owned by the other node, and this node is ranked second for it, so the
// owner's death is this node's to check and its VIP this node's to take.
type deathFixture struct {
	vip   netip.Addr
	owner string
	clk   *testclock.FakeClock
	rec   *recorder
	logs  *logLines
	fm    fakeMembers
}

// startDeathFixture builds the fixture; configure sets the loop's
// death-checking fields (Reacher, Witnesses, ...) before it runs, which
// starts it and returns once it has taken the Service.
func startDeathFixture(t *testing.T, alive []string, configure func(f *deathFixture, l *Loop)) *deathFixture {
	t.Helper()
	cfg := testConfig(t)
	f := &deathFixture{vip: netip.MustParseAddr("10.0.0.7"), clk: testclock.NewFakeClock(time.Now()), rec: &recorder{}, logs: &logLines{},
		fm: fakeMembers{ch: make(chan []members.Event, 1), alive: alive}}
	svc := agent.Service{Key: "ns/s", IPs: []netip.Addr{f.vip}, ReadyNodes: testNodes}
	f.owner = ownerOf(cfg, svc)
	updates := make(chan Update, 16)
	l := &Loop{Agent: agent.New(other(f.owner), testNodes), Updates: updates, Members: f.fm, Announcer: f.rec, Status: f.rec, Metrics: f.rec,
		Interfaces: func() []string { return []string{"eth0"} }, Log: f.logs.logger(), Clock: f.clk}
	configure(f, l)
	var steps stepper
	steps.watch(l)
	runLoop(t, l, updates, cfg)
	updates <- Update{Service: &svc}
	steps.waitApplied(t, initialUpdates+1)
	return f
}

// TestDeathIsCheckedBeforeTakeover: the owner of a VIP is declared dead by
// memberlist; this node, ranked second, takes the VIP over only when the
// owner's speaker is gone (its port refuses, or nothing answers), or when
// a speaker still listening neither refutes nor dies within the hold. A
// goodbye is not checked.
func TestDeathIsCheckedBeforeTakeover(t *testing.T) {
	const (
		notHeld   = "not held"
		refutes   = "refutes"
		holdEnds  = "hold ends"
		diesLater = "dies while held"
	)
	for _, tc := range []struct {
		name     string
		graceful bool
		answers  []members.Reachability
		then     string
		reaches  int // Reach calls expected (at least)
	}{
		{name: "node down", answers: []members.Reachability{members.Unreachable}, then: notHeld, reaches: 1},
		{name: "speaker gone", answers: []members.Reachability{members.Refused}, then: notHeld, reaches: 1},
		{name: "goodbye", graceful: true, answers: []members.Reachability{members.Listening}, then: notHeld, reaches: 0},
		{name: "stalled speaker refutes", answers: []members.Reachability{members.Listening}, then: refutes, reaches: 1},
		{name: "frozen speaker", answers: []members.Reachability{members.Listening}, then: holdEnds, reaches: 1},
		{name: "held speaker dies", answers: []members.Reachability{members.Listening, members.Refused}, then: diesLater, reaches: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reacher := &scriptedReacher{answers: tc.answers}
			f := startDeathFixture(t, nil, func(f *deathFixture, l *Loop) {
				l.Reacher = reacher
				if tc.then == refutes {
					reacher.refute = func() { f.fm.ch <- []members.Event{{Kind: members.Joined, Node: f.owner, At: f.clk.Now()}} }
				}
			})
			vip, owner, clk, rec, logs, fm := f.vip, f.owner, f.clk, f.rec, f.logs, f.fm

			lastContact := clk.Now().Add(-300 * time.Millisecond)
			fm.ch <- []members.Event{{Kind: members.Left, Node: owner, At: clk.Now(), LastContact: lastContact, Graceful: tc.graceful, Addr: "192.0.2.1:7946"}}
			switch tc.then {
			case notHeld:
				eventually(t, "taking over at once", func() bool { return rec.owns(vip) })
			case refutes:
				eventually(t, "the refutation", func() bool { return logs.has("alive again") })
				// Nothing is left to fire: neither a hold nor a recheck.
				eventually(t, "no timer left", func() bool { return !clk.HasWaiters() })
				if rec.owns(vip) {
					t.Fatalf("took %s over from %s, which only stalled", vip, owner)
				}
			case holdEnds, diesLater:
				eventually(t, "the hold", func() bool { return logs.has("stalled, not dead") })
				if rec.owns(vip) {
					t.Fatalf("took %s over from %s while its speaker listens", vip, owner)
				}
				if tc.then == holdEnds {
					clk.Step(DefaultStalledHold)
				} else {
					eventually(t, "a recheck due", clk.HasWaiters)
					clk.Step(recheckInterval)
				}
				eventually(t, "taking over", func() bool { return rec.owns(vip) })
				// Rechecks run until the member answers; loss must not pass for
				// its death on any of them.
				if tc.then == diesLater && reacher.strictCalls() == 0 {
					t.Error("the held member's recheck connected with Reach, not ReachStrict")
				}
			}
			wantNudge := tc.answers[0] == members.Listening && !tc.graceful
			if wantNudge {
				eventually(t, "the nudge", func() bool { _, n := reacher.calls(); return n > 0 })
			}
			reached, nudged := reacher.calls()
			if reached < tc.reaches || (tc.reaches == 0 && reached > 0) {
				t.Errorf("Reach called %d times, want %d", reached, tc.reaches)
			}
			if nudged > 1 || wantNudge != (nudged > 0) {
				t.Errorf("nudged %d times; a member found listening is nudged once, no other", nudged)
			}
			owns := rec.owns(vip)
			if owns {
				eventually(t, "the takeover recorded", rec.takeoverRecorded())
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if owns != (rec.takeovers == 1) || (rec.takeovers == 1 && !rec.lastContact.Equal(lastContact)) {
				t.Errorf("takeovers %d (last contact %v); want one from the death's last contact %v, only if the VIP moved",
					rec.takeovers, rec.lastContact, lastContact)
			}
		})
	}
}

// addrReacher answers Reach by address; listening can change under it.
type addrReacher struct {
	mu        sync.Mutex
	listening map[string]bool
	reached   map[string]int
	nudged    int
}

func (a *addrReacher) Reach(_ context.Context, addr string) members.Reachability {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reached == nil {
		a.reached = map[string]int{}
	}
	a.reached[addr]++
	if a.listening[addr] {
		return members.Listening
	}
	return members.Unreachable
}

func (a *addrReacher) ReachStrict(ctx context.Context, addr string) members.Reachability {
	return a.Reach(ctx, addr)
}

func (a *addrReacher) Nudge(string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nudged++
	return nil
}

func (a *addrReacher) nudges() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nudged
}

func (a *addrReacher) reaches(addr string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reached[addr]
}

func (a *addrReacher) set(addr string, listening bool) {
	a.mu.Lock()
	a.listening[addr] = listening
	a.mu.Unlock()
}

// TestCutOffNodeTakesNothingOver: the owner of a VIP stops answering.
// This node takes the VIP over at once when another member (a witness)
// still accepts connections, or, with no witness answering, when the
// apiserver does; when neither answers, this node is the one cut off (its
// own link went down) and takes nothing over, until it reaches one again.
func TestCutOffNodeTakesNothingOver(t *testing.T) {
	for _, tc := range []struct {
		name              string
		witness, apiReach bool
		cutOff            bool
	}{
		{name: "a witness answers", witness: true, cutOff: false},
		{name: "no witness answers, the apiserver does", apiReach: true, cutOff: false},
		{name: "nobody answers: cut off until the witness answers again", cutOff: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reacher := &addrReacher{listening: map[string]bool{witnessAddr: tc.witness}}
			f := startDeathFixture(t, nil, func(f *deathFixture, l *Loop) {
				l.Reacher = reacher
				l.Witnesses = func() map[string]string { return map[string]string{f.owner: ownerAddr, "n3": witnessAddr} }
				l.Connected = func(context.Context) error {
					if tc.apiReach {
						return nil
					}
					return context.DeadlineExceeded
				}
			})
			vip, owner, clk, rec, logs, fm := f.vip, f.owner, f.clk, f.rec, f.logs, f.fm

			fm.ch <- []members.Event{{Kind: members.Left, Node: owner, At: clk.Now(), LastContact: clk.Now(), Addr: ownerAddr}}
			if !tc.cutOff {
				eventually(t, "taking over at once", func() bool { return rec.owns(vip) })
				return
			}
			eventually(t, "finding itself cut off", func() bool { return logs.has("the one cut off") })
			eventually(t, "a look again due", clk.HasWaiters)
			clk.Step(isolationRecheck)
			eventually(t, "another look", clk.HasWaiters)
			if rec.owns(vip) {
				t.Fatalf("took %s over while cut off from every member and the apiserver", vip)
			}
			reacher.set(witnessAddr, true)
			clk.Step(isolationRecheck)
			eventually(t, "taking over once a witness answers", func() bool { return rec.owns(vip) })
		})
	}
}

// TestTakenOverMemberIsNudgedBack: the owner's node does not answer, so
// this node takes its VIP over; the owner was alive behind a busy kernel
// and never heard of its death. When its port accepts again it is nudged,
// refutes, and the VIP goes back to it; nothing is asked after that.
func TestTakenOverMemberIsNudgedBack(t *testing.T) {
	reacher := &scriptedReacher{answers: []members.Reachability{members.Unreachable, members.Unreachable, members.Listening}}
	f := startDeathFixture(t, nil, func(f *deathFixture, l *Loop) {
		l.Reacher = reacher
		reacher.refute = func() { f.fm.ch <- []members.Event{{Kind: members.Joined, Node: f.owner, At: f.clk.Now()}} }
	})
	f.fm.ch <- []members.Event{{Kind: members.Left, Node: f.owner, At: f.clk.Now(), Addr: "192.0.2.1:7946"}}
	eventually(t, "taking over", func() bool { return f.rec.owns(f.vip) })
	for i := 0; i < 2; i++ {
		eventually(t, "an afterlife check due", f.clk.HasWaiters)
		f.clk.Step(reviveEvery)
	}
	eventually(t, "the nudge", func() bool { _, n := reacher.calls(); return n == 1 })
	// Handed back, this node answers on for the hand-off's linger.
	eventually(t, "the VIP back with its owner", func() bool {
		f.clk.Step(DefaultHandoffLinger)
		return !f.rec.owns(f.vip)
	})
	if !f.logs.has("accepts connections again") {
		t.Errorf("the nudge was not logged")
	}
	eventually(t, "no afterlife check left", func() bool { return !f.clk.HasWaiters() })
	reached, _ := reacher.calls()
	f.clk.Step(10 * reviveEvery)
	if again, _ := reacher.calls(); again != reached {
		t.Errorf("asked %d more times after the member came back", again-reached)
	}
}
