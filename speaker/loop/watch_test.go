package loop

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/ironlb/ironlb/speaker/members"
)

// pinger answers pings while the member is up, and counts them.
type pinger struct {
	mu          sync.Mutex
	down        bool
	rtt         time.Duration
	pings       int
	lastContact time.Time
}

func (p *pinger) Ping(string) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pings++
	if p.down {
		return 0, errors.New("no answer")
	}
	return p.rtt, nil
}

func (p *pinger) LastContact(string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastContact
}

// touch records a packet of the member heard at, outside the pings.
func (p *pinger) touch(at time.Time) {
	p.mu.Lock()
	p.lastContact = at
	p.mu.Unlock()
}

func (p *pinger) set(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// tick lets the watch's next ping go out: it waits for a timer on clk,
// moves clk on by a watch interval and waits for the ping.
func (p *pinger) tick(t *testing.T, clk *testclock.FakeClock) {
	t.Helper()
	n := p.count()
	eventually(t, "the next ping due", clk.HasWaiters)
	clk.Step(DefaultWatchInterval)
	eventually(t, "the ping", func() bool { return p.count() > n })
}

// silence steps the clock to the next ping, which goes unanswered, and
// waits for the retries that follow it at once: DefaultWatchMisses pings
// in a row missed, with no more time passed.
func (p *pinger) silence(t *testing.T, clk *testclock.FakeClock) {
	t.Helper()
	n := p.count()
	p.tick(t, clk)
	eventually(t, "the missed ping's retries", func() bool { return p.count() >= n+DefaultWatchMisses })
}

func (p *pinger) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pings
}

// The memberlist addresses of the fixtures' owner and of their witness.
const ownerAddr, witnessAddr = "192.0.2.1:7946", "192.0.2.3:7946"

// startWatchFixture starts a death fixture whose loop watches the owner
// with ping, last heard 150 ms ago, checks deaths with reacher, and has
// one witness, n3.
func startWatchFixture(t *testing.T, reacher Reacher, ping *pinger) *deathFixture {
	t.Helper()
	return startDeathFixture(t, testNodes, func(f *deathFixture, l *Loop) {
		ping.lastContact = f.clk.Now().Add(-150 * time.Millisecond)
		l.Reacher, l.Watcher = reacher, ping
		l.Witnesses = func() map[string]string { return map[string]string{f.owner: ownerAddr, "n3": witnessAddr} }
	})
}

// TestWatchedOwnerFailsOverWithoutMemberlist: this node pings the owner of
// the VIP it would take over. When the owner stops answering, its death is
// checked at once, with no verdict from memberlist: a speaker gone is taken
// over; one that still accepts connections is held for the stalled hold,
// and taken over when it stays silent through it, as if memberlist had
// declared it (its timers are patient); one that answers during the hold
// keeps its VIP. A member
// believed dead that answers again while memberlist never declared it dead
// gets its VIP back; when memberlist does declare it, nothing is checked
// twice.
func TestWatchedOwnerFailsOverWithoutMemberlist(t *testing.T) {
	for _, tc := range []struct {
		name string
		// listening: the owner's memberlist port still accepts.
		listening bool
		// then: after the takeover, the owner answers again ("answers")
		// or memberlist declares it dead ("memberlist").
		then string
	}{
		{name: "speaker gone, then memberlist agrees", then: "memberlist"},
		{name: "speaker gone, then it answers again", then: "answers"},
		{name: "speaker frozen: taken over after the hold", listening: true, then: "silent"},
		{name: "speaker stalled: answers during the hold", listening: true, then: "answers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reacher := &addrReacher{listening: map[string]bool{witnessAddr: true, ownerAddr: tc.listening}}
			ping := &pinger{}
			f := startWatchFixture(t, reacher, ping)
			vip, owner, clk, rec, logs, fm := f.vip, f.owner, f.clk, f.rec, f.logs, f.fm
			lastContact := ping.lastContact

			tick := func() { t.Helper(); ping.tick(t, clk) }
			tick()
			if rec.owns(vip) {
				t.Fatalf("took %s over from %s, which answers", vip, owner)
			}
			ping.set(true)
			ping.silence(t, clk)
			if tc.listening {
				eventually(t, "the check", func() bool { return reacher.reaches(ownerAddr) > 0 })
				eventually(t, "the hold", func() bool { return logs.has("stalled, not dead") })
				if tc.then == "answers" {
					tick()
					ping.set(false)
					tick()
					eventually(t, "the hold dropped", func() bool { return logs.has("answers again while its silence was checked") })
					for range 2 * DefaultStalledHold / DefaultWatchInterval {
						tick()
					}
					if rec.owns(vip) {
						t.Fatalf("took %s over from %s, which answered during its hold", vip, owner)
					}
					return
				}
				held := clk.Now() // the hold began no later
				for clk.Since(held) < DefaultStalledHold-DefaultWatchInterval {
					tick() // the watch goes on
					if rec.owns(vip) {
						t.Fatalf("took %s over from %s, whose speaker accepts connections, %s into the %s hold", vip, owner, clk.Since(held), DefaultStalledHold)
					}
				}
				tick()
				tick()
				eventually(t, "taking over after the hold", func() bool { return rec.owns(vip) })
				if n := reacher.nudges(); n > 0 {
					t.Errorf("nudged %d times a member nobody declared dead: it has nothing to refute", n)
				}
				return
			}
			eventually(t, "taking over", func() bool { return rec.owns(vip) })
			eventually(t, "the takeover recorded", rec.takeoverRecorded())
			rec.mu.Lock()
			takeovers, from := rec.takeovers, rec.lastContact
			rec.mu.Unlock()
			if takeovers != 1 || !from.Equal(lastContact) {
				t.Errorf("takeovers %d from %v, want one from the last contact %v", takeovers, from, lastContact)
			}

			switch tc.then {
			case "answers":
				ping.set(false)
				tick()
				eventually(t, "taking the member back", func() bool { return logs.has("answers again") })
				eventually(t, "giving the VIP back after the handoff linger", lingerEnds(clk, rec, vip))
			case "memberlist":
				checked := reacher.reaches(ownerAddr)
				// memberlist declares it dead, then alive again (it came
				// back): the loop takes them in order, and the second
				// shows when the first was taken.
				fm.ch <- []members.Event{{Kind: members.Left, Node: owner, At: clk.Now(), Addr: ownerAddr}}
				ping.set(false)
				fm.ch <- []members.Event{{Kind: members.Joined, Node: owner, At: clk.Now(), Addr: ownerAddr}}
				eventually(t, "giving the VIP back to the member come back", lingerEnds(clk, rec, vip))
				if n := reacher.reaches(ownerAddr); n != checked {
					t.Errorf("memberlist's verdict on a member this node already found gone was checked again (%d more Reach)", n-checked)
				}
			}
		})
	}
}

// TestWatchConnectsAtASilencesFirstMiss: the check of a silent member
// connects to it as soon as its first ping goes unanswered, so that when
// the silence is confirmed the verdict is already known and the takeover
// does not wait out the connection's timeouts (two of 25 ms on a dead
// node). A member that answers its next ping keeps its VIP, whatever that
// early connection found.
func TestWatchConnectsAtASilencesFirstMiss(t *testing.T) {
	for _, dies := range []bool{true, false} {
		name := map[bool]string{true: "dead: its check takes the first connection's verdict", false: "one miss: the verdict is dropped"}[dies]
		t.Run(name, func(t *testing.T) {
			reacher := &addrReacher{listening: map[string]bool{witnessAddr: true}}
			ping := &pinger{}
			f := startWatchFixture(t, reacher, ping)
			tick := func() { t.Helper(); ping.tick(t, f.clk) }
			tick()
			ping.set(true)
			tick()
			eventually(t, "a connection to the owner at its first miss", func() bool { return reacher.reaches(ownerAddr) == 1 })
			if !dies {
				ping.set(false)
				for range 5 {
					tick()
				}
				if f.rec.owns(f.vip) {
					t.Fatalf("took %s over from %s, which missed one ping and answered the next", f.vip, f.owner)
				}
				return
			}
			tick()
			eventually(t, "taking over", func() bool { return f.rec.owns(f.vip) })
			if n := reacher.reaches(ownerAddr); n != 1 {
				t.Errorf("the owner was connected to %d times, want once, at its first miss: the check connected again after the silence was confirmed", n)
			}
		})
	}
}

// lingerEnds is a condition that moves the clock on, so the VIP handed
// back stops lingering, and holds once this node no longer answers for it.
func lingerEnds(clk *testclock.FakeClock, rec *recorder, vip netip.Addr) func() bool {
	return func() bool {
		clk.Step(10 * time.Millisecond)
		return !rec.owns(vip)
	}
}

// gatedReacher is addrReacher whose answers about one address wait for
// the test to open the gate.
type gatedReacher struct {
	addrReacher
	gated   string
	gate    chan struct{}
	entered chan struct{} // closed when the first Reach of gated waits
	once    sync.Once
}

func (g *gatedReacher) Reach(ctx context.Context, addr string) members.Reachability {
	if addr == g.gated {
		g.once.Do(func() { close(g.entered) })
		select {
		case <-g.gate:
		case <-ctx.Done():
		}
	}
	return g.addrReacher.Reach(ctx, addr)
}

func (g *gatedReacher) ReachStrict(ctx context.Context, addr string) members.Reachability {
	return g.Reach(ctx, addr)
}

// TestWatchedOwnerAnswersDuringItsCheck: the owner misses its pings, its
// death is checked, and it answers its pings again before the check ends:
// whatever the check concludes (here that nothing answered), the VIP stays
// with its owner. The migration e2e caught the loop taking it over for
// good: the watch had seen the answer before the belief, and nothing took
// the member back after.
func TestWatchedOwnerAnswersDuringItsCheck(t *testing.T) {
	reacher := &gatedReacher{addrReacher: addrReacher{listening: map[string]bool{witnessAddr: true}}, gated: ownerAddr,
		gate: make(chan struct{}), entered: make(chan struct{})}
	ping := &pinger{}
	f := startWatchFixture(t, reacher, ping)
	tick := func() { t.Helper(); ping.tick(t, f.clk) }
	tick()
	ping.set(true)
	ping.silence(t, f.clk)
	<-reacher.entered // the check waits for its answer
	ping.set(false)
	tick()
	tick()
	close(reacher.gate) // the check ends: nothing answered it
	for range 5 {
		tick()
	}
	f.rec.mu.Lock()
	takeovers := f.rec.takeovers
	f.rec.mu.Unlock()
	if takeovers > 0 || f.rec.owns(f.vip) {
		t.Fatalf("took %s over from %s (%d takeovers), which answered its pings during the check", f.vip, f.owner, takeovers)
	}
}

// TestWatchForgetsAFreezesLateAnswers: a member believed dead is watched
// as silent; it thaws, and the pings queued during its freeze are answered
// late, then it answers at once. Those late answers are not its round
// trips: its next silence is reported after the usual misses, not after
// seconds of patience (the e2e's SIGKILL right after a freeze waited 1.4 s).
func TestWatchForgetsAFreezesLateAnswers(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	ping := &pinger{down: true, rtt: 300 * time.Microsecond, lastContact: clk.Now().Add(-time.Second)}
	l := &Loop{Clock: clk, Watcher: ping, WatchInterval: DefaultWatchInterval, WatchMisses: DefaultWatchMisses, watchReports: make(chan watchReport, 8)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); l.watch(ctx, "n1", true) }()
	t.Cleanup(func() { cancel(); <-done })
	tick := func() { t.Helper(); ping.tick(t, clk) }
	tick()
	tick()
	ping.touch(clk.Now().Add(60 * time.Millisecond)) // the last ping, answered late
	tick()
	ping.set(false)
	tick()
	select {
	case r := <-l.watchReports:
		if !r.answered {
			t.Fatalf("report %+v, want the member answering again", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the member answering again was not reported")
	}
	ping.set(true)
	ping.silence(t, clk)
	select {
	case r := <-l.watchReports:
		if r.answered {
			t.Fatalf("report %+v, want its silence", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("its silence was not reported after %d unanswered pings", DefaultWatchMisses)
	}
}
