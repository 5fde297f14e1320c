package loop

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/ironlb/ironlb/speaker/loop/rtt"
	"github.com/ironlb/ironlb/speaker/members"
)

// Watching the members this node succeeds. memberlist finds a dead member
// by probing members at random and spreading its suspicion by gossip; the
// node that takes the VIPs over learns of the death only when the
// suspicion has run out (SuspicionMult × log10(N+1) probe intervals) and
// the verdict has reached it. Short timers make that fast on a small
// cluster, and on a large one, starved of CPU, they declare live members
// dead faster than they can refute, and the cluster never settles (issue
// 20's join storm at 30 nodes on two cores). Here each node pings, every
// WatchInterval, only the members it would take a VIP over from, and on
// WatchMisses unanswered pings in a row checks the member's death itself
// (the same check as memberlist's verdicts: deaths.go), so failover no
// longer waits for memberlist, whose timers can then be patient.

// Defaults of the watch.
const (
	// DefaultWatchInterval: a member is pinged this often, and at once
	// again when a ping goes unanswered; with two misses of a 50 ms probe
	// timeout, a death is confirmed 100–200 ms after it. At 150 ms it is
	// 100–250 ms, as at 100 ms without the retry, for a third fewer
	// packets at rest; measured, that saved ~0.1 % of a core, less than
	// runs vary by, and put the 10-node hard kill's p50 near 300 ms.
	DefaultWatchInterval = 100 * time.Millisecond
	DefaultWatchMisses   = 2
)

// Watcher pings a live member directly; *members.Members implements it.
type Watcher interface {
	// Ping returns the round trip when the member answered within the
	// probe timeout, else an error.
	Ping(node string) (time.Duration, error)
	// LastContact is when this node last heard from the member.
	LastContact(node string) time.Time
}

// watchReport is a watched member gone silent (WatchMisses pings in a row
// unanswered, with nothing else heard from it), or answering again after
// it was.
type watchReport struct {
	node     string
	answered bool
	// early brings the verdict of a connection made at the silence's
	// first miss (reachEarly); nil when there is none to use.
	early <-chan members.Reachability
}

// watching reports whether the loop watches the members it succeeds.
func (l *Loop) watching() bool {
	return l.Watcher != nil && l.holds() && l.Witnesses != nil && l.WatchInterval >= 0
}

// rewatch watches exactly the members this node would take a VIP over
// from, and those it believed dead on its own check while memberlist still
// holds them alive (to notice them answer again).
func (l *Loop) rewatch(ctx context.Context) {
	if !l.watching() {
		return
	}
	want := map[string]bool{}
	for _, n := range l.Agent.Predecessors() {
		want[n] = false
	}
	for n := range l.believedOnWatch {
		want[n] = true
	}
	for n, stop := range l.watches {
		if _, ok := want[n]; !ok {
			stop()
			delete(l.watches, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(want)) {
		if _, ok := l.watches[n]; ok {
			continue
		}
		wctx, stop := context.WithCancel(ctx)
		l.watches[n] = stop
		l.checks.Add(1)
		go func() {
			defer l.checks.Done()
			l.watch(wctx, n, want[n])
		}()
	}
}

// watch pings the member every WatchInterval and reports when it goes
// silent and when it answers again; silent says it is taken as silent
// from the start (a member believed dead).
func (l *Loop) watch(ctx context.Context, node string, silent bool) {
	t := l.Clock.NewTimer(l.WatchInterval)
	defer t.Stop()
	misses := 0
	var est rtt.Estimate
	// seen is the member's last contact as of the previous ping's end:
	// a packet of it since then is news, even if this ping went
	// unanswered.
	var prevSent, lastAnswer, seen time.Time
	prevFailed := false
	var early <-chan members.Reachability // the connection made at this silence's first miss
	retry := false                        // the last ping went unanswered, the silence is not yet believed
	for {
		if retry {
			// Pinged again at once, not an interval later: a dead member's
			// silence is confirmed a probe timeout after its first miss.
			select {
			case <-t.C(): // a tick come while the missed ping waited
			default:
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
		retry = false
		// The next ping is due an interval after this one began, however
		// long this one waits for its answer.
		t.Reset(l.WatchInterval)
		sent := l.Clock.Now()
		took, err := l.Watcher.Ping(node)
		if ctx.Err() != nil {
			return
		}
		heard := l.Watcher.LastContact(node)
		switch {
		case err == nil:
			est.Observe(took)
			lastAnswer = sent
		case !seen.IsZero() && heard.After(seen):
			// A packet of the member since the previous ping ended (the
			// previous ping's answer, come too late, or any other) is
			// life too: on a machine starved of CPU, answers are late,
			// not missing.
			if prevFailed {
				est.Observe(heard.Sub(prevSent))
			}
			lastAnswer, err = prevSent, nil
		}
		prevSent, seen, prevFailed = sent, heard, err != nil
		report := watchReport{node: node}
		if err == nil {
			early = nil
		}
		switch {
		case err == nil && !silent:
			misses = 0
			continue
		case err == nil:
			silent, misses, report.answered = false, 0, true
			// A new life: how late its answers came while it was silent
			// (a freeze, queued pings answered at once on thawing) says
			// nothing of its round trips now, and would make the watch
			// wait seconds before it finds the next death.
			est = rtt.Estimate{}
			if took > 0 {
				est.Observe(took)
			}
		default:
			misses++
			if misses == 1 && !silent && l.WatchMisses > 1 {
				early = l.reachEarly(ctx, node)
			}
			// Silent: WatchMisses pings in a row unanswered, and for
			// longer than answers have lately taken to come (so a
			// machine that answers slowly is waited for, and its live
			// members are left to memberlist's patience).
			if silent || misses < l.WatchMisses || (!lastAnswer.IsZero() && l.Clock.Since(lastAnswer) < est.Patience()) {
				retry = !silent && misses < l.WatchMisses
				continue
			}
			silent = true
			if misses == l.WatchMisses {
				report.early = early // else made long before the silence was believed: the check connects anew
			}
			early = nil
		}
		select {
		case l.watchReports <- report:
		case <-ctx.Done():
			return
		}
	}
}

// reachEarly connects to the member in the background at the first miss
// of a silence, so that its check's first verdict is known by the time
// the silence is confirmed: a dead node's check otherwise adds its two
// fair silences (2 × the reach timeout, 50 ms) to every failover. It asks
// for three (Reacher.ReachStrict), which end 25 ms after the missed ping's
// retry: begun later, a live member's check under loss was often
// cancelled by its answer to the next ping, and begun early it no longer
// is. The channel is closed without a verdict when the member is no
// longer watched meanwhile (a cancelled connection says nothing of the
// member), or nil when the member is no longer alive.
func (l *Loop) reachEarly(ctx context.Context, node string) <-chan members.Reachability {
	if l.Witnesses == nil || l.Reacher == nil {
		return nil
	}
	addr, alive := l.Witnesses()[node]
	if !alive {
		return nil
	}
	out := make(chan members.Reachability, 1)
	l.checks.Add(1)
	go func() {
		defer l.checks.Done()
		defer close(out)
		if r := l.Reacher.ReachStrict(ctx, addr); ctx.Err() == nil {
			out <- r
		}
	}()
	return out
}

// watched acts on a watch report: a member gone silent has its death
// checked now, as if memberlist had declared it; one believed dead on
// that check that answers again, while memberlist still holds it alive,
// is taken back. It returns whether the agent changed.
func (l *Loop) watched(ctx context.Context, r watchReport) bool {
	if r.answered {
		if d, checking := l.deaths[r.node]; checking && d.onWatch {
			// It answers while the silence that started the check is
			// being checked: not dead, whatever the check concludes.
			d.cancel()
			delete(l.deaths, r.node)
			l.Log.Info("watched member answers again while its silence was checked: not dead", "node", r.node)
			return false
		}
		if !l.believedOnWatch[r.node] {
			return false
		}
		// Believed no longer: memberlist's next word on it (a death
		// checked as any other, or its return) decides from here.
		delete(l.believedOnWatch, r.node)
		if !slices.Contains(l.Members.Alive(), r.node) {
			l.Log.Info("member believed dead on this node's own check answers again, but memberlist declared it dead meanwhile: its refutation brings it back", "node", r.node)
			return false
		}
		l.Log.Info("member believed dead on this node's own check answers again, and memberlist never declared it dead: taking it back", "node", r.node)
		l.Agent.MemberJoined(r.node)
		return true
	}
	if _, checking := l.deaths[r.node]; checking || l.believedOnWatch[r.node] {
		return false
	}
	addr, alive := l.Witnesses()[r.node]
	if !alive {
		return false
	}
	l.Log.V(1).Info("watched member stopped answering pings: checking its death", "node", r.node, "misses", l.WatchMisses)
	l.startCheck(ctx, members.Event{Kind: members.Left, Node: r.node, At: l.Clock.Now(),
		LastContact: l.Watcher.LastContact(r.node), Addr: addr}, true, r.early)
	return false
}
