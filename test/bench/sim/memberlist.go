package main

import (
	"math"
	"time"
)

// memberlist's failure detector as hashicorp/memberlist v0.6.0 runs it
// (state.go, suspicion.go, awareness.go): SWIM probes in a shuffled
// round-robin order, indirect probes and a TCP ping when the direct one
// times out, Lifeguard's suspicion whose timeout shrinks with independent
// confirmations, refutation by a higher incarnation, and the local health
// score that stretches a struggling node's probe interval.

// probeTick is the probe ticker: a tick while a probe runs is kept, as a
// time.Ticker keeps one, and starts the next probe as soon as it ends.
func (s *Sim) probeTick(n *node, nominal time.Duration) {
	s.tick(n, evProbeTick, nominal+s.p.ProbeInterval)
	if n.probe.active {
		n.probe.pendingTick = true
		return
	}
	s.startProbe(n)
}

// nextProbeTarget walks the node's shuffled member list, skipping itself
// and the dead, and shuffles it again at the end (memberlist's probe and
// resetNodes).
func (s *Sim) nextProbeTarget(n *node) int32 {
	for checked := 0; checked < len(n.probeOrder); {
		if n.probeIdx >= len(n.probeOrder) {
			s.shuffle(n.probeOrder)
			n.probeIdx = 0
			checked++
			continue
		}
		t := n.probeOrder[n.probeIdx]
		n.probeIdx++
		if t == n.id || !n.mlAlive(t) {
			checked++
			continue
		}
		return t
	}
	return -1
}

// startProbe is probeNode's start: a ping, and the timers of its two
// phases.
func (s *Sim) startProbe(n *node) {
	target := s.nextProbeTarget(n)
	if target < 0 {
		return
	}
	interval := s.p.ProbeInterval * time.Duration(n.awareness+1)
	pr := &n.probe
	*pr = probeState{active: true, gen: s.nextGen(), seq: s.nextSeq(n), target: target, sent: s.q.now, deadline: s.q.now + interval}
	n.handlers[pr.seq] = handler{kind: hProbe, gen: pr.gen}
	ping := s.newPacket(pkPing, n.id, target)
	ping.seq = pr.seq
	if n.view[target].state == stAlive {
		s.piggyback(n, ping)
	} else {
		// A suspect is told so with the ping, to refute at once.
		ping.msgs = append(ping.msgs, gossipMsg{kind: msgSuspect, node: target, from: n.id, inc: n.view[target].inc})
	}
	s.send(n, ping, catProbe)
	s.after(n, s.p.ProbeTimeout, evProbeTimeout, target, pr.gen)
	s.after(n, interval, evProbeDeadline, target, pr.gen)
}

func (s *Sim) nextSeq(n *node) uint32 {
	n.seq++
	return n.seq
}

// endProbe applies the awareness change and starts the probe a tick that
// came meanwhile asked for.
func (s *Sim) endProbe(n *node, awarenessDelta int) {
	pending := n.probe.pendingTick
	delete(n.handlers, n.probe.seq)
	n.probe = probeState{}
	n.awareness = min(max(n.awareness+awarenessDelta, 0), s.p.AwarenessMaxMultiplier-1)
	if pending {
		s.startProbe(n)
	}
}

// probeTimeout: no ack within ProbeTimeout. Ask IndirectChecks live
// members to probe, and try a TCP ping, until the probe's interval ends.
func (s *Sim) probeTimeout(n *node, gen uint32) {
	pr := &n.probe
	if !pr.active || pr.gen != gen || pr.acked {
		return
	}
	pr.indirect = true
	relays := s.randomMembers(n, s.p.IndirectChecks, func(m int32) bool {
		return m == n.id || m == pr.target || n.view[m].state != stAlive
	})
	for _, r := range relays {
		req := s.newPacket(pkIndirect, n.id, r)
		req.seq, req.target = pr.seq, pr.target
		s.piggyback(n, req)
		s.send(n, req, catProbe)
	}
	pr.expectedNacks = len(relays)
	if s.p.TCPPings {
		pr.tcpContact = s.tcpPing(n, s.nodes[pr.target], pr.deadline)
	}
}

// tcpPing is memberlist's fallback ping over TCP, started now and due by
// deadline: a handshake, the ping, the ack from the member's process. A
// lost segment costs a retransmission timeout (200 ms at least, the SYN's
// 1 s) that no probe interval of these presets leaves room for, so any
// loss fails it.
func (s *Sim) tcpPing(n, m *node, deadline time.Duration) bool {
	if !s.handshake(n, m, catTCPPing) {
		return false
	}
	n.count(catTCPPing, s.p.InitiatorSegments-1)
	if s.lossy() {
		return false
	}
	answered := s.wake(m, s.q.now+3*s.p.Base)
	m.count(catTCPPing, s.p.ResponderSegments-1)
	if s.lossy() {
		return false
	}
	return answered+s.p.Base <= deadline
}

// probeDeadline: the probe's interval is over. Without any ack, the
// target is suspected, and this node's health score rises by the nacks
// that did not come (its own slowness shows as missing nacks).
func (s *Sim) probeDeadline(n *node, gen uint32) {
	pr := &n.probe
	if !pr.active || pr.gen != gen {
		return
	}
	if pr.acked || pr.tcpContact {
		s.endProbe(n, -1)
		return
	}
	delta := 1
	if pr.expectedNacks > 0 {
		delta = max(pr.expectedNacks-pr.nacks, 0)
	}
	target := pr.target
	s.endProbe(n, delta)
	if s.nodes[target].up && n.view[target].state == stAlive {
		s.tally.suspicions++
	}
	s.suspectNode(n, gossipMsg{kind: msgSuspect, node: target, from: n.id, inc: n.view[target].inc})
}

// deliver is a UDP packet read by its node's process.
func (s *Sim) deliver(n *node, p *packet) {
	n.heard[p.from] = s.q.now
	switch p.kind {
	case pkPing:
		ack := s.newPacket(pkAck, n.id, p.from)
		ack.seq, ack.watch = p.seq, p.watch
		s.piggyback(n, ack)
		cat := catProbe
		if p.watch {
			cat = catWatch
		}
		s.send(n, ack, cat)
	case pkAck:
		s.ackArrives(n, p.seq)
	case pkNack:
		if h, ok := n.handlers[p.seq]; ok && h.kind == hProbe && n.probe.active && n.probe.gen == h.gen {
			n.probe.nacks++
		}
	case pkIndirect:
		seq := s.nextSeq(n)
		n.handlers[seq] = handler{kind: hRelay, peer: p.from, reqSeq: p.seq}
		ping := s.newPacket(pkPing, n.id, p.target)
		ping.seq = seq
		s.piggyback(n, ping)
		s.send(n, ping, catProbe)
		s.after(n, s.p.ProbeTimeout, evRelayTimeout, p.from, seq)
	}
	for _, m := range p.msgs {
		s.handleMsg(n, m)
	}
	s.freePacket(p)
}

// ackArrives hands an ack to whoever waits for it; a late one, whose
// handler is gone, was only a sign of life (heard).
func (s *Sim) ackArrives(n *node, seq uint32) {
	h, ok := n.handlers[seq]
	if !ok {
		return
	}
	delete(n.handlers, seq)
	switch h.kind {
	case hProbe:
		if n.probe.active && n.probe.gen == h.gen && !n.probe.acked {
			n.probe.acked = true
			s.endProbe(n, -1)
		}
	case hWatch:
		s.watchAnswered(n, h.peer, h.gen)
	case hRelay:
		fwd := s.newPacket(pkAck, n.id, h.peer)
		fwd.seq = h.reqSeq
		s.piggyback(n, fwd)
		s.send(n, fwd, catProbe)
	}
}

// relayTimeout: the member this node probed for another did not answer
// within ProbeTimeout: a nack tells the requester this node is alive.
func (s *Sim) relayTimeout(n *node, seq uint32) {
	h, ok := n.handlers[seq]
	if !ok || h.kind != hRelay {
		return
	}
	delete(n.handlers, seq)
	nack := s.newPacket(pkNack, n.id, h.peer)
	nack.seq = h.reqSeq
	s.piggyback(n, nack)
	s.send(n, nack, catProbe)
}

func (s *Sim) handleMsg(n *node, m gossipMsg) {
	switch m.kind {
	case msgAlive:
		s.aliveNode(n, m)
	case msgSuspect:
		s.suspectNode(n, m)
	case msgDead:
		s.deadNode(n, m)
	}
}

// suspicionTimeout is memberlist's: SuspicionMult × max(1, log10(n)) ×
// ProbeInterval.
func suspicionTimeout(mult, n int, interval time.Duration) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return time.Duration(mult) * time.Duration(scale*1000) * interval / 1000
}

// remainingSuspicionTime is memberlist's.
func remainingSuspicionTime(n, k int, elapsed, lo, hi time.Duration) time.Duration {
	frac := math.Log(float64(n)+1) / math.Log(float64(k)+1)
	raw := hi.Seconds() - frac*(hi.Seconds()-lo.Seconds())
	timeout := time.Duration(math.Floor(1000*raw)) * time.Millisecond
	timeout = max(timeout, lo)
	return timeout - elapsed
}

// refute answers an accusation of this node with a higher incarnation;
// being accused also counts against its health.
func (s *Sim) refute(n *node, accused uint32) {
	n.inc++
	if accused >= n.inc {
		n.inc = accused + 1
	}
	n.view[n.id].inc = n.inc
	n.awareness = min(n.awareness+1, s.p.AwarenessMaxMultiplier-1)
	s.enqueue(n, gossipMsg{kind: msgAlive, node: n.id, from: n.id, inc: n.inc})
}

func (s *Sim) aliveNode(n *node, a gossipMsg) {
	st := &n.view[a.node]
	if a.node == n.id {
		if a.inc > n.inc {
			s.refute(n, a.inc)
		}
		return
	}
	if a.inc <= st.inc {
		return
	}
	delete(n.suspicions, a.node)
	s.enqueue(n, a)
	old := st.state
	st.inc = a.inc
	if st.state != stAlive {
		st.state, st.changed = stAlive, s.q.now
	}
	if old == stDead || old == stLeft {
		s.memberJoined(n, a.node)
	}
}

func (s *Sim) suspectNode(n *node, m gossipMsg) {
	st := &n.view[m.node]
	if m.inc < st.inc {
		return
	}
	if sp, ok := n.suspicions[m.node]; ok {
		if s.confirm(n, m.node, sp, m.from) {
			s.enqueue(n, m)
		}
		return
	}
	if st.state != stAlive {
		return
	}
	if m.node == n.id {
		s.refute(n, m.inc)
		return
	}
	s.enqueue(n, m)
	st.inc, st.state, st.changed = m.inc, stSuspect, s.q.now
	k := s.p.SuspicionMult - 2
	members := len(s.nodes)
	if members-2 < k {
		k = 0
	}
	lo := suspicionTimeout(s.p.SuspicionMult, members, s.p.ProbeInterval)
	hi := time.Duration(s.p.SuspicionMaxTimeoutMult) * lo
	sp := &suspicion{k: k, min: lo, max: hi, start: s.q.now, changed: s.q.now, confirmed: []int32{m.from}, gen: s.nextGen()}
	n.suspicions[m.node] = sp
	timeout := hi
	if k < 1 {
		timeout = lo
	}
	s.after(n, timeout, evSuspicion, m.node, sp.gen)
}

// confirm is suspicion.Confirm: an independent accuser shortens the
// timeout, until k of them brought it to its minimum.
func (s *Sim) confirm(n *node, subject int32, sp *suspicion, from int32) bool {
	if sp.n >= sp.k {
		return false
	}
	for _, c := range sp.confirmed {
		if c == from {
			return false
		}
	}
	sp.confirmed = append(sp.confirmed, from)
	sp.n++
	remaining := remainingSuspicionTime(sp.n, sp.k, s.q.now-sp.start, sp.min, sp.max)
	sp.gen = s.nextGen()
	s.after(n, max(remaining, 0), evSuspicion, subject, sp.gen)
	return true
}

// suspicionFires declares the member dead if it is still the suspect the
// timer was started for.
func (s *Sim) suspicionFires(n *node, subject int32, gen uint32) {
	sp, ok := n.suspicions[subject]
	if !ok || sp.gen != gen {
		return
	}
	st := n.view[subject]
	if st.state != stSuspect || st.changed != sp.changed {
		return
	}
	if m := s.nodes[subject]; m.up {
		s.tally.falseDeaths[uint64(subject)<<32|uint64(st.inc)] = struct{}{}
	}
	s.deadNode(n, gossipMsg{kind: msgDead, node: subject, from: n.id, inc: st.inc})
}

func (s *Sim) deadNode(n *node, d gossipMsg) {
	st := &n.view[d.node]
	if d.inc < st.inc {
		return
	}
	delete(n.suspicions, d.node)
	if st.state == stDead || st.state == stLeft {
		return
	}
	if d.node == n.id {
		s.refute(n, d.inc)
		return
	}
	s.enqueue(n, d)
	st.inc, st.state, st.changed = d.inc, stDead, s.q.now
	if d.node == d.from {
		st.state = stLeft
	}
	s.memberLeft(n, d.node)
}

// randomMembers picks up to k distinct members exclude leaves out, at
// random (memberlist's kRandomNodes).
func (s *Sim) randomMembers(n *node, k int, exclude func(int32) bool) []int32 {
	out := s.scratch[:0]
	total := len(s.nodes)
	if total < 3*k+8 {
		ids := make([]int32, 0, total)
		for i := range total {
			ids = append(ids, int32(i))
		}
		s.shuffle(ids)
		for _, id := range ids {
			if len(out) == k {
				break
			}
			if !exclude(id) {
				out = append(out, id)
			}
		}
		s.scratch = out
		return out
	}
	for tries := 0; tries < 3*total && len(out) < k; tries++ {
		id := int32(s.rng.IntN(total))
		if exclude(id) {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == id
		}
		if !dup {
			out = append(out, id)
		}
	}
	s.scratch = out
	return out
}
