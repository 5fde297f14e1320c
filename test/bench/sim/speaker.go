package main

import (
	"maps"
	"slices"
	"time"

	"github.com/ironlb/ironlb/speaker/loop/rtt"
)

// The speaker's loop as speaker/loop runs it: memberlist's deaths checked
// before they are believed (deaths.go), the successor's watch
// (watch.go), and the agent whose election decides who announces.

// reachability is members.Reachability.
type reachability int

const (
	unreachable reachability = iota
	refused
	listening
	unheard
)

func (r reachability) gone() bool { return r == unreachable || r == refused }

// watch is one watched member's state in loop.watch.
type watch struct {
	gen        uint32
	silent     bool
	misses     int
	rtt        rtt.Estimate
	prevSent   time.Duration
	lastAnswer time.Duration
	seen       time.Duration
	prevFailed bool
	// the ping in flight
	waiting     bool
	sent        time.Duration
	seq         uint32
	tickPending bool
	// early is the connection made at this silence's first miss
	// (loop.reachEarly), nil when none was.
	early *earlyReach
}

// earlyReach is a connection's verdict and when it came.
type earlyReach struct {
	r    reachability
	done time.Duration
}

// death is a member being checked (loop.death).
type death struct {
	gen     uint32
	onWatch bool
	until   time.Duration // never until found listening
}

// watching reports whether the watch runs (loop.watching).
func (s *Sim) watching() bool { return s.p.Watch && s.p.StalledHold >= 0 && s.p.WatchInterval >= 0 }

// rewatch watches exactly the members n would take a VIP over from, and
// those it believes dead on its own check (loop.rewatch); it runs after
// every step of the loop.
func (s *Sim) rewatch(n *node) {
	if !s.watching() || !n.up {
		return
	}
	for y := range n.watches {
		if !n.believedOnWatch[y] && !contains(n.preds, y) {
			delete(n.watches, y)
		}
	}
	start := func(y int32, silent bool) {
		if _, ok := n.watches[y]; ok {
			return
		}
		w := &watch{gen: s.nextGen(), silent: silent, prevSent: never, lastAnswer: never, seen: never}
		n.watches[y] = w
		s.after(n, s.p.WatchInterval, evWatchTick, y, w.gen)
	}
	for _, y := range n.preds {
		start(y, false)
	}
	// In id order: map order would change what the random draws go to,
	// and a seed would no longer give one run.
	for _, y := range slices.Sorted(maps.Keys(n.believedOnWatch)) {
		start(y, true)
	}
}

func contains(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// watchTick pings the member; the next ping is due an interval after this
// one began, however long this one waits.
func (s *Sim) watchTick(n *node, y int32, gen uint32) {
	w, ok := n.watches[y]
	if !ok || w.gen != gen {
		return
	}
	s.after(n, s.p.WatchInterval, evWatchTick, y, gen)
	if w.waiting {
		w.tickPending = true // the goroutine is still in Ping
		return
	}
	s.watchPing(n, y, w)
}

func (s *Sim) watchPing(n *node, y int32, w *watch) {
	w.sent = s.q.now
	if !n.mlAlive(y) {
		s.watchResult(n, y, w, false, 0) // members.Ping: not a live member
		return
	}
	w.waiting = true
	w.seq = s.nextSeq(n)
	n.handlers[w.seq] = handler{kind: hWatch, peer: y, gen: w.gen}
	ping := s.newPacket(pkPing, n.id, y)
	ping.seq, ping.watch = w.seq, true
	s.piggyback(n, ping)
	s.send(n, ping, catWatch)
	s.after(n, s.p.WatchPingTimeout, evWatchTimeout, y, w.gen)
}

func (s *Sim) watchAnswered(n *node, y int32, gen uint32) {
	w, ok := n.watches[y]
	if !ok || w.gen != gen || !w.waiting {
		return
	}
	s.watchResult(n, y, w, true, s.q.now-w.sent)
}

func (s *Sim) watchTimeout(n *node, y int32, gen uint32) {
	w, ok := n.watches[y]
	if !ok || w.gen != gen || !w.waiting {
		return
	}
	delete(n.handlers, w.seq)
	s.watchResult(n, y, w, false, 0)
}

// watchResult is the body of loop.watch after Ping returns.
func (s *Sim) watchResult(n *node, y int32, w *watch, answered bool, took time.Duration) {
	w.waiting = false
	sent := w.sent
	heard := n.heard[y]
	switch {
	case answered:
		w.rtt.Observe(took)
		w.lastAnswer = sent
	case w.seen != never && heard > w.seen:
		// Any packet of the member since the previous ping ended is
		// life too.
		if w.prevFailed {
			w.rtt.Observe(heard - w.prevSent)
		}
		w.lastAnswer, answered = w.prevSent, true
	}
	w.prevSent, w.seen, w.prevFailed = sent, heard, !answered
	report, reportAnswered, retry := false, false, false
	var early *earlyReach
	if answered {
		w.early = nil
	}
	switch {
	case answered && !w.silent:
		w.misses = 0
	case answered:
		w.silent, w.misses, report, reportAnswered = false, 0, true, true
		// A new life: how late its answers came while it was silent says
		// nothing of its round trips now.
		w.rtt = rtt.Estimate{}
		if took > 0 {
			w.rtt.Observe(took)
		}
	default:
		w.misses++
		if w.misses == 1 && !w.silent && s.p.WatchMisses > 1 && s.p.EarlyReach {
			r, took := s.reachSilences(n, y, s.q.now, s.p.strictSilences()) // members.ReachStrict
			w.early = &earlyReach{r: r, done: s.q.now + took}
		}
		if w.silent || w.misses < s.p.WatchMisses || (w.lastAnswer != never && s.q.now-w.lastAnswer < w.rtt.Patience()) {
			retry = s.p.WatchRetry && !w.silent && w.misses < s.p.WatchMisses
			break
		}
		w.silent, report = true, true
		if w.misses == s.p.WatchMisses {
			early = w.early
		}
		w.early = nil
	}
	pending := w.tickPending
	w.tickPending = false
	if retry {
		// Pinged again at once, a tick come meanwhile dropped; the next
		// is due an interval after this ping.
		w.gen = s.nextGen()
		s.after(n, s.p.WatchInterval, evWatchTick, y, w.gen)
		s.watchPing(n, y, w)
		return
	}
	if report {
		s.watched(n, y, reportAnswered, early)
		s.rewatch(n)
	}
	// A tick that came while the ping waited pings again at once, if the
	// member is still watched by this very watch.
	if pending && n.watches[y] == w {
		s.watchPing(n, y, w)
	}
}

// watched is loop.watched: a silent member's death is checked now; one
// believed dead on that check that answers again is taken back.
func (s *Sim) watched(n *node, y int32, answered bool, early *earlyReach) {
	if answered {
		if d, ok := n.deaths[y]; ok && d.onWatch {
			delete(n.deaths, y)
			return
		}
		if !n.believedOnWatch[y] {
			return
		}
		delete(n.believedOnWatch, y)
		if n.mlAlive(y) {
			s.agentJoin(n, y)
		}
		return
	}
	if _, ok := n.deaths[y]; ok || n.believedOnWatch[y] || !n.mlAlive(y) {
		return
	}
	if s.nodes[y].up {
		s.tally.watchChecks++
	}
	s.startCheck(n, y, true, early)
}

// memberLeft is memberlist's NotifyLeave reaching the loop
// (loop.membership).
func (s *Sim) memberLeft(n *node, y int32) {
	switch {
	case n.believedOnWatch[y]:
		delete(n.believedOnWatch, y)
	case s.p.StalledHold >= 0:
		if d, ok := n.deaths[y]; ok {
			if d.onWatch && d.until != never {
				s.pushPull(n, y, true) // held on the watch's word: now it has a death to refute (6a1da84)
			}
			d.onWatch = false // memberlist agrees: a listening member is held
		} else {
			s.startCheck(n, y, false, nil)
		}
	default:
		s.agentLeave(n, y)
	}
	s.rewatch(n)
}

// memberJoined is NotifyJoin reaching the loop: whatever was checked or
// believed of the member is over.
func (s *Sim) memberJoined(n *node, y int32) {
	delete(n.believedOnWatch, y)
	delete(n.deaths, y)
	delete(n.revivals, y)
	s.agentJoin(n, y)
	s.rewatch(n)
}

// startCheck is loop.check's first verdict: connect to the member (or
// take early's connection, made at the silence's first miss); if it is
// silent, ask witnesses whether this node is the one cut off. Both are
// worked out now (the kernels answer, or do not, whatever happens
// meanwhile) and the verdict reaches the loop when they would end.
func (s *Sim) startCheck(n *node, y int32, onWatch bool, early *earlyReach) {
	d := &death{gen: s.nextGen(), onWatch: onWatch, until: never}
	n.deaths[y] = d
	var r reachability
	var took time.Duration
	if early != nil {
		r, took = early.r, max(0, early.done-s.q.now)
	} else {
		r, took = s.reach(n, y, s.q.now)
	}
	if r.gone() {
		took += s.cutOff(n, y, s.q.now+took)
	}
	s.q.push(event{at: s.q.now + took, kind: evCheckDone, node: n.id, peer: y, life: n.life, gen: d.gen, reach: r})
}

// reach is members.reach against y from n, starting at t: it returns the
// verdict and how long it took. A silence is fair when the wait took less
// than half as long again as the timeout (n's process did not stand
// still through it).
func (s *Sim) reach(n *node, y int32, t time.Duration) (reachability, time.Duration) {
	return s.reachSilences(n, y, t, s.p.FairSilences)
}

// reachSilences is reach wanting this many fair silences, with as many
// spare connections as reach has.
func (s *Sim) reachSilences(n *node, y int32, t time.Duration, silences int) (reachability, time.Duration) {
	m := s.nodes[y]
	attempts := silences + s.p.ReachAttempts - s.p.FairSilences
	fair := 0
	elapsed := time.Duration(0)
	for attempt := 1; ; attempt++ {
		start := t + elapsed
		if s.handshake(n, m, catCheck) {
			n.count(catCheck, 2) // ACK, FIN
			m.count(catCheck, 1) // FIN
			return listening, s.wake(n, start+2*s.p.Base) - t
		}
		end := s.wake(n, start+s.p.ReachTimeout)
		if end-start < s.p.ReachTimeout*3/2 {
			if fair++; fair == silences {
				return unreachable, end - t
			}
		}
		elapsed = end - t
		if attempt >= attempts {
			return unheard, elapsed
		}
	}
}

// cutOff is loop.cutOff's cost when this node is not cut off: witnesses
// are connected to WitnessesAtOnce at a time, each batch waiting for all
// its answers, until one listens; if none does, the apiserver answers.
func (s *Sim) cutOff(n *node, dead int32, t time.Duration) time.Duration {
	witnesses := s.witnesses(n, dead)
	took := time.Duration(0)
	for len(witnesses) > 0 {
		batch := witnesses[:min(s.p.WitnessesAtOnce, len(witnesses))]
		witnesses = witnesses[len(batch):]
		slowest, heard := time.Duration(0), false
		for _, w := range batch {
			r, d := s.reach(n, w, t+took)
			slowest = max(slowest, d)
			heard = heard || r == listening
		}
		took += slowest
		if heard {
			return took
		}
	}
	return took + s.p.APIServerRTT
}

// witnesses are the other members n's memberlist holds alive, in random
// order; on a large cluster only as many as are likely asked are drawn.
func (s *Sim) witnesses(n *node, dead int32) []int32 {
	ok := func(m int32) bool { return m != n.id && m != dead && n.mlAlive(m) }
	if len(s.nodes) > 64 {
		picked := s.randomMembers(n, 2*s.p.WitnessesAtOnce, func(m int32) bool { return !ok(m) })
		if len(picked) == 2*s.p.WitnessesAtOnce {
			return append([]int32(nil), picked...)
		}
	}
	var out []int32
	for i := range s.nodes {
		if ok(int32(i)) {
			out = append(out, int32(i))
		}
	}
	s.shuffle(out)
	return out
}

// checkDone is loop.verdict.
func (s *Sim) checkDone(n *node, y int32, gen uint32, r reachability) {
	d, ok := n.deaths[y]
	if !ok || d.gen != gen {
		return
	}
	switch {
	case r.gone():
		onWatch := d.onWatch
		s.believe(n, y)
		if !onWatch {
			s.startRevival(n, y)
		}
	default:
		// Listening (or unheard): held, whoever started the check; a
		// member silent on the watch through the hold is taken over on
		// the watch's word, any answer meanwhile ends the hold
		// (806b66b).
		if d.until == never {
			d.until = s.q.now + s.p.StalledHold
			s.after(n, s.p.StalledHold, evHoldEnds, y, d.gen)
			// The rechecks go on meanwhile, and the nudge (a join) when
			// memberlist declared it dead: a member held on the watch's
			// word alone has nothing to refute (6a1da84).
			if !d.onWatch {
				s.pushPull(n, y, true)
			}
			s.after(n, s.p.RecheckInterval, evRecheck, y, d.gen)
		}
	}
	s.rewatch(n)
}

// recheck connects to a held member again; one that stopped listening is
// taken over at once.
func (s *Sim) recheck(n *node, y int32, gen uint32) {
	d, ok := n.deaths[y]
	if !ok || d.gen != gen {
		return
	}
	silences := s.p.FairSilences
	if s.p.StrictRechecks {
		silences = s.p.strictSilences()
	}
	r, took := s.reachSilences(n, y, s.q.now, silences)
	if r.gone() {
		s.q.push(event{at: s.q.now + took, kind: evCheckDone, node: n.id, peer: y, life: n.life, gen: gen, reach: r})
		return
	}
	s.after(n, took+s.p.RecheckInterval, evRecheck, y, gen)
}

// holdEnds takes the VIPs of a held member that did not refute in time.
func (s *Sim) holdEnds(n *node, y int32, gen uint32) {
	d, ok := n.deaths[y]
	if !ok || d.gen != gen || d.until == never {
		return
	}
	s.believe(n, y)
	s.rewatch(n)
}

// believe tells the agent the member left (loop.believe); what n took
// over is announced.
func (s *Sim) believe(n *node, y int32) {
	d := n.deaths[y]
	delete(n.deaths, y)
	if d != nil && d.onWatch {
		n.believedOnWatch[y] = true
		delete(n.watches, y) // started again as silent by rewatch
	}
	s.agentLeave(n, y)
}

// agentLeave is Agent.MemberLeft; n takes over y's VIPs when it succeeds
// y.
func (s *Sim) agentLeave(n *node, y int32) {
	if !n.agentAlive[y] {
		return
	}
	took := contains(n.preds, y)
	n.agentAlive[y] = false
	n.agentDead++
	n.preds = s.rank.predecessors(n.id, n.agentAlive, n.agentDead, n.preds)
	if !took {
		return
	}
	if s.nodes[y].up {
		s.tally.falseTakeovers++
	}
	if s.onAnnounce != nil {
		s.onAnnounce(n.id, y, s.q.now+s.p.AnnounceDelay)
	}
}

// agentJoin is Agent.MemberJoined.
func (s *Sim) agentJoin(n *node, y int32) {
	if n.agentAlive[y] {
		return
	}
	n.agentAlive[y] = true
	n.agentDead--
	n.preds = s.rank.predecessors(n.id, n.agentAlive, n.agentDead, n.preds)
}

// startRevival asks a member taken over as gone every ReviveEvery for
// ReviveFor whether it listens again, and nudges it when it does.
func (s *Sim) startRevival(n *node, y int32) {
	gen := s.nextGen()
	n.revivals[y] = gen
	s.after(n, s.p.ReviveEvery, evRevive, y, gen)
	s.at(s.q.now+s.p.ReviveFor, func() {
		if n.revivals[y] == gen {
			delete(n.revivals, y)
		}
	})
}

func (s *Sim) revive(n *node, y int32, gen uint32) {
	if g, ok := n.revivals[y]; !ok || g != gen {
		return
	}
	r, took := s.reach(n, y, s.q.now)
	if r == listening {
		s.pushPull(n, y, true)
	}
	s.after(n, took+s.p.ReviveEvery, evRevive, y, gen)
}
