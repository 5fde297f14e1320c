package loop

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ironlb/ironlb/speaker/members"
)

// DefaultStalledHold is how long a member declared dead whose speaker
// still accepts connections keeps its VIPs (Loop.StalledHold). Its node
// forwards the VIPs' traffic in the kernel meanwhile, so clients that know
// its MAC are served; only a client asking for the MAC waits. A speaker
// starved of CPU refutes well within it once nudged; one frozen longer is
// taken over.
const DefaultStalledHold = time.Second

// recheckInterval is how often a held member is connected to again: one
// whose process dies or whose link goes down while held is taken over at
// once.
const recheckInterval = 50 * time.Millisecond

// isolationRecheck is how often a node that found itself cut off (see
// cutOff) looks again; connectedTimeout bounds its question to the
// apiserver.
const (
	isolationRecheck = time.Second
	connectedTimeout = 500 * time.Millisecond
)

// Reacher tells a member declared dead from one that is only stalled;
// *members.Members and members.Reach implement it for the speaker.
type Reacher interface {
	// Reach connects to the member's memberlist address.
	Reach(ctx context.Context, addr string) members.Reachability
	// ReachStrict is Reach asking for one fair silence more: for a check
	// begun at a watched member's first missed ping, before its silence
	// is confirmed, and for a held member's rechecks.
	ReachStrict(ctx context.Context, addr string) members.Reachability
	// Nudge exchanges state with it, so that a live member learns it was
	// declared dead and refutes; it may block up to a TCP timeout.
	Nudge(addr string) error
}

// death is a member memberlist declared dead that the agent still counts
// alive until its speaker is found gone, it refutes, or its hold ends.
type death struct {
	ev     members.Event
	gen    int
	ctx    context.Context    // its checks'; ends when it is settled
	cancel context.CancelFunc // stops its checks
	until  time.Time          // zero until its speaker was found listening
	// onWatch: the check was started by this node's watch (watch.go), not
	// by memberlist's verdict; a member believed dead on it is watched on,
	// and taken back at its first answer.
	onWatch bool
}

// reached is one check's verdict, sent to the loop. isolated: the member
// does not answer, but neither does anyone else: this node is the one cut
// off, and takes nothing over yet.
type reached struct {
	node     string
	gen      int
	r        members.Reachability
	isolated bool
}

// holds reports whether deaths are checked before they are believed.
func (l *Loop) holds() bool { return l.Reacher != nil && l.StalledHold >= 0 }

// suspect starts checking a member memberlist declared dead instead of
// telling the agent; true when it did. A goodbye, or a member already
// being checked, is not checked.
func (l *Loop) suspect(ctx context.Context, e members.Event) bool {
	if !l.holds() || e.Graceful || e.Addr == "" {
		return false
	}
	if d, checking := l.deaths[e.Node]; checking {
		if d.onWatch && !d.until.IsZero() {
			l.nudge(d) // held on the watch's word: now it has a death to refute
		}
		d.onWatch = false // memberlist agrees: from here its return is memberlist's to report
		return true
	}
	l.startCheck(ctx, e, false, nil)
	return true
}

// startCheck checks the member's death (check) and records it in deaths.
// early, when set, brings the first connection's verdict, made as the
// silence began (reachEarly).
func (l *Loop) startCheck(ctx context.Context, e members.Event, onWatch bool, early <-chan members.Reachability) {
	l.deathGen++
	cctx, cancel := context.WithCancel(ctx)
	d := &death{ev: e, gen: l.deathGen, ctx: cctx, cancel: cancel, onWatch: onWatch}
	l.deaths[e.Node] = d
	l.checks.Add(1)
	go func() {
		defer l.checks.Done()
		l.check(cctx, e.Node, d.gen, e.Addr, early)
	}()
}

// check reports the first verdict on the member at addr (early's, when it
// has one), then, while it is held (listening), connects again every
// recheckInterval and reports only when it stops listening.
func (l *Loop) check(ctx context.Context, node string, gen int, addr string, early <-chan members.Reachability) {
	send := func(v reached) bool {
		select {
		case l.reached <- v:
			return true
		case <-ctx.Done():
			return false
		}
	}
	report := func(r members.Reachability) bool { return send(reached{node: node, gen: gen, r: r}) }
	r, ok := members.Unreachable, false
	if early != nil {
		select {
		case r, ok = <-early:
		case <-ctx.Done():
			return
		}
	}
	if !ok {
		r = l.Reacher.Reach(ctx, addr)
	}
	// A member that does not answer is believed dead only if this node
	// is not the one cut off; until then, look again now and then.
	for told := false; r.Gone() && l.cutOff(ctx, node); {
		if !told && !send(reached{node: node, gen: gen, r: r, isolated: true}) {
			return
		}
		told = true
		if !l.pause(ctx, isolationRecheck) {
			return
		}
		r = l.Reacher.Reach(ctx, addr)
	}
	if !report(r) || r.Gone() {
		return
	}
	// Rechecks run until the member answers a ping, each a chance for loss
	// to pass for silence: they want one fair silence more.
	for l.pause(ctx, recheckInterval) {
		if r := l.Reacher.ReachStrict(ctx, addr); r.Gone() && ctx.Err() == nil {
			report(r)
			return
		}
	}
}

// cutOff reports whether this node, not the member dead that stopped
// answering, is the one cut off: no other member memberlist still holds
// alive accepts a connection, and the apiserver does not answer either. A
// node whose link goes down sees every other member die at once; taking
// their VIPs over would announce them all when the link comes back, and
// clients would follow those announcements to the wrong node. Without
// Witnesses the check is off; with no witness left (two members) and no
// Connected, the death is believed, as before.
func (l *Loop) cutOff(ctx context.Context, dead string) bool {
	if l.Witnesses == nil {
		return false
	}
	witnesses := l.Witnesses()
	delete(witnesses, dead)
	if l.anyAnswers(ctx, witnesses) {
		return false
	}
	if l.Connected == nil {
		return len(witnesses) > 0
	}
	cctx, cancel := context.WithTimeout(ctx, connectedTimeout)
	defer cancel()
	return l.Connected(cctx) != nil
}

// witnessesAtOnce is how many witnesses are asked together. One answer is
// enough, and asking every member at once for every death would cost a
// connection per member per death: on a large cluster starved of CPU, where
// false deaths come in bursts, that load would feed the starvation.
const witnessesAtOnce = 3

// anyAnswers reports whether one of the witnesses accepts a connection,
// asking witnessesAtOnce of them at a time, in random order, until one
// does or all were asked.
func (l *Loop) anyAnswers(ctx context.Context, witnesses map[string]string) bool {
	addrs := slices.Collect(maps.Values(witnesses))
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	for batch := range slices.Chunk(addrs, witnessesAtOnce) {
		answers := make(chan bool, len(batch))
		for _, addr := range batch {
			go func() { answers <- l.Reacher.Reach(ctx, addr) == members.Listening }()
		}
		heard := false
		for range batch {
			heard = <-answers || heard // every Reach returns within its timeout
		}
		if heard {
			return true
		}
	}
	return false
}

// verdict applies a check's result: a member whose speaker is gone, or
// whose node does not answer, left now; one still listening is held; one
// that does not answer while this node is cut off waits.
func (l *Loop) verdict(ctx context.Context, v reached) failure {
	d, ok := l.deaths[v.node]
	if !ok || d.gen != v.gen {
		return failure{}
	}
	if v.isolated {
		l.Log.Info("member declared dead, but no other member accepts a connection and the apiserver does not answer: "+
			"this node is the one cut off, and takes nothing over until it reaches one of them", "node", v.node, "reach", v.r.String())
		return failure{}
	}
	if v.r.Gone() {
		l.Log.Info("member declared dead, and its speaker is gone: taking its VIPs over", "node", v.node, "reach", v.r.String(),
			"checked", l.Clock.Since(d.ev.At).String(), "onWatch", d.onWatch)
		addr, onWatch := d.ev.Addr, d.onWatch
		f := l.believe(v.node)
		if !onWatch { // memberlist holds a member believed on the watch alive: its watch takes it back
			l.startRevival(ctx, v.node, addr)
		}
		return f
	}
	// Listening (or unheard): stalled, frozen or busy, not dead. Held
	// whoever started the check: memberlist's timers are patient, so a
	// speaker frozen for longer than the hold is taken over on the
	// watch's word alone, and any answer meanwhile (a ping, a refutation)
	// ends the hold.
	if d.until.IsZero() {
		if !d.onWatch {
			l.nudge(d)
		}
		d.until = l.Clock.Now().Add(l.StalledHold)
		l.Log.Info("member declared dead or silent on the watch still accepts connections (stalled, not dead), or this node stood still while it asked: it keeps its VIPs while it is asked to refute",
			"node", v.node, "reach", v.r.String(), "hold", l.StalledHold.String(), "onWatch", d.onWatch)
		l.armHold()
	}
	return failure{}
}

// nudge exchanges state with a held member memberlist declared dead, once,
// in the background, so it learns of its death and refutes. A member held
// on the watch's word alone is not nudged: nobody declared it dead, so it
// has nothing to refute, and the exchange carries the whole membership
// (on a thousand nodes, with 5 % loss making the watch check live members
// often, the nudges would outweigh everything else the speaker sends).
func (l *Loop) nudge(d *death) {
	node, addr, ctx := d.ev.Node, d.ev.Addr, d.ctx
	l.checks.Add(1)
	go func() {
		defer l.checks.Done()
		if err := l.Reacher.Nudge(addr); err != nil && ctx.Err() == nil {
			l.Log.V(1).Info("nudging a member declared dead", "node", node, "reason", err.Error())
		}
	}()
}

// refuted forgets a held member that memberlist reports alive again.
func (l *Loop) refuted(node string) {
	d, ok := l.deaths[node]
	if !ok {
		return
	}
	d.cancel()
	delete(l.deaths, node)
	l.Log.Info("member declared dead is alive again; its VIPs never moved", "node", node)
	l.armHold()
}

// holdsExpired takes over from every held member whose hold has ended.
func (l *Loop) holdsExpired() failure {
	var f failure
	now := l.Clock.Now()
	for node, d := range l.deaths {
		if !d.until.IsZero() && !now.Before(d.until) {
			l.Log.Info("member declared dead did not refute within its hold: taking its VIPs over", "node", node, "hold", l.StalledHold.String())
			f = l.believe(node)
		}
	}
	l.armHold()
	return f
}

// believe tells the agent the member left; the failure dates from
// memberlist's verdict, so a takeover's decision phase includes the check.
func (l *Loop) believe(node string) failure {
	d := l.deaths[node]
	d.cancel()
	delete(l.deaths, node)
	if d.onWatch {
		l.believedOnWatch[node] = true
		// Its watch starts again taking it as silent (rewatch), so the
		// first answer takes it back, even if one came during the check.
		if stop, ok := l.watches[node]; ok {
			stop()
			delete(l.watches, node)
		}
	}
	l.Agent.MemberLeft(node)
	return failure{lastContact: d.ev.LastContact, detected: d.ev.At}
}

// armHold sets the hold timer to the earliest hold's end.
func (l *Loop) armHold() {
	if l.holdT != nil {
		l.holdT.Stop()
		l.holdT = nil
	}
	var next time.Time
	for _, d := range l.deaths {
		if !d.until.IsZero() && (next.IsZero() || d.until.Before(next)) {
			next = d.until
		}
	}
	if !next.IsZero() {
		l.holdT = l.Clock.NewTimer(next.Sub(l.Clock.Now()))
	}
}

func (l *Loop) holdExpired() <-chan time.Time {
	if l.holdT == nil {
		return nil
	}
	return l.holdT.C()
}

// pause waits d on the loop's clock; false when ctx ended first.
func (l *Loop) pause(ctx context.Context, d time.Duration) bool {
	t := l.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// reviveEvery is how often a member taken over as gone is asked again
// (revive): a SYN to its memberlist port each time.
const reviveEvery = 500 * time.Millisecond

// reviveFor bounds the asking: after it, memberlist's own state exchanges
// and the speakers' rejoins are left to bring a member back.
const reviveFor = time.Minute

// startRevival asks a member taken over as gone again from now on
// (revive), replacing any earlier asking.
func (l *Loop) startRevival(ctx context.Context, node, addr string) {
	if addr == "" {
		return
	}
	l.revived(node)
	rctx, cancel := context.WithTimeout(ctx, reviveFor)
	l.revivals[node] = cancel
	l.checks.Add(1)
	go func() {
		defer l.checks.Done()
		l.revive(rctx, node, addr)
	}()
}

// revived stops asking a member memberlist reports back.
func (l *Loop) revived(node string) {
	if cancel, ok := l.revivals[node]; ok {
		cancel()
		delete(l.revivals, node)
	}
}

// revive asks a member whose VIPs this node took over because its node did
// not answer (or its port refused) whether it accepts connections again,
// and nudges it each time it does. A live node behind a busy kernel can
// miss two handshakes; if its speaker also missed the gossip of its death,
// it never refutes and goes on answering its VIPs while this node answers
// them too, until memberlist's next full state exchange, seconds later (a
// migration e2e saw two nodes answer one VIP for over ten seconds). Nudged,
// it learns of its death and refutes, memberlist reports it back and its
// VIPs return to it.
func (l *Loop) revive(ctx context.Context, node, addr string) {
	told := false
	for l.pause(ctx, reviveEvery) {
		if l.Reacher.Reach(ctx, addr) != members.Listening || ctx.Err() != nil {
			continue
		}
		if !told {
			l.Log.Info("member taken over as gone accepts connections again: nudging it to learn it was declared dead and refute", "node", node)
			told = true
		}
		if err := l.Reacher.Nudge(addr); err != nil && ctx.Err() == nil {
			l.Log.V(1).Info("nudging a member taken over as gone", "node", node, "reason", err.Error())
		}
	}
}
