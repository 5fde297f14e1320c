package main

import (
	"math"
	"time"
)

// memberlist's dissemination: a transmit-limited queue of news per node,
// piggybacked on every UDP message it sends and gossiped to GossipNodes
// random members every GossipInterval while there is any; a full state
// exchange with one random member every pushPullScale(PushPullInterval,
// N).

// retransmitLimit is memberlist's: RetransmitMult × ceil(log10(N+1)).
func retransmitLimit(mult, n int) int {
	return mult * int(math.Ceil(math.Log10(float64(n+1))))
}

// pushPullScale is memberlist's: the interval doubles, and one more, for
// every doubling of the cluster past 32 members.
func pushPullScale(interval time.Duration, n int) time.Duration {
	const threshold = 32
	if n <= threshold {
		return interval
	}
	mult := math.Ceil(math.Log2(float64(n))-math.Log2(threshold)) + 1
	return time.Duration(mult) * interval
}

// enqueue queues news for retransmission; news about a member replaces
// what the queue held about it (memberlist invalidates by node name).
func (s *Sim) enqueue(n *node, m gossipMsg) {
	kept := n.bq[:0]
	for _, b := range n.bq {
		if b.msg.node != m.node {
			kept = append(kept, b)
		}
	}
	n.bqID++
	n.bq = append(kept, broadcast{msg: m, id: n.bqID})
	if !n.gossipArmed && s.p.GossipInterval > 0 && s.p.GossipNodes > 0 {
		n.gossipArmed = true
		// The ticker runs all along; a tick with nothing to send sends
		// nothing, so only the next one after news is simulated.
		next := n.gossipPhase
		if s.q.now > next {
			k := (s.q.now - next + s.p.GossipInterval - 1) / s.p.GossipInterval
			next += k * s.p.GossipInterval
		}
		s.tick(n, evGossipTick, next)
	}
}

// getBroadcasts takes up to MaxPiggyback messages, those sent least often
// first and the newest among them, and counts a transmission of each.
func (s *Sim) getBroadcasts(n *node, into []gossipMsg) []gossipMsg {
	if len(n.bq) == 0 {
		return into
	}
	limit := retransmitLimit(s.p.RetransmitMult, len(s.nodes))
	taken := 0
	for taken < s.p.MaxPiggyback {
		best := -1
		for i := range n.bq {
			b := &n.bq[i]
			if b.transmits < 0 {
				continue // taken in this call
			}
			if best < 0 || b.transmits < n.bq[best].transmits ||
				(b.transmits == n.bq[best].transmits && b.id > n.bq[best].id) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		into = append(into, n.bq[best].msg)
		n.bq[best].transmits = -n.bq[best].transmits - 1 // marked: taken
		taken++
	}
	kept := n.bq[:0]
	for _, b := range n.bq {
		if b.transmits < 0 {
			b.transmits = -b.transmits // -(t)-1 → t+1
		}
		if b.transmits < limit {
			kept = append(kept, b)
		}
	}
	n.bq = kept
	return into
}

// piggyback adds queued news to a UDP message n sends.
func (s *Sim) piggyback(n *node, p *packet) {
	p.msgs = s.getBroadcasts(n, p.msgs)
}

// gossipTick sends news to GossipNodes random members: live, suspect, or
// dead for less than GossipToTheDead.
func (s *Sim) gossipTick(n *node, nominal time.Duration) {
	if len(n.bq) == 0 {
		n.gossipArmed = false
		return
	}
	s.tick(n, evGossipTick, nominal+s.p.GossipInterval)
	now := s.q.now
	targets := s.randomMembers(n, s.p.GossipNodes, func(m int32) bool {
		if m == n.id {
			return true
		}
		switch v := n.view[m]; v.state {
		case stAlive, stSuspect:
			return false
		case stDead:
			return now-v.changed > s.p.GossipToTheDead
		}
		return true
	})
	for _, t := range targets {
		p := s.newPacket(pkGossip, n.id, t)
		p.msgs = s.getBroadcasts(n, p.msgs)
		if len(p.msgs) == 0 {
			s.freePacket(p)
			return
		}
		s.send(n, p, catGossip)
	}
}

// pushPullTick exchanges full state with a random live member.
func (s *Sim) pushPullTick(n *node, nominal time.Duration) {
	s.tick(n, evPushPullTick, nominal+pushPullScale(s.p.PushPullInterval, len(s.nodes)))
	peers := s.randomMembers(n, 1, func(m int32) bool { return m == n.id || n.view[m].state != stAlive })
	if len(peers) == 1 {
		s.pushPull(n, peers[0], false)
	}
}

// pushPull sends n's state to m over TCP; m merges it and answers with
// its own, which n merges. A lost SYN or SYN-ACK fails it (the SYN's
// retransmission comes after the speaker's 1 s TCP timeout); a lost data
// segment only delays it, which is not modelled. Every segment of the
// exchange is counted when it starts.
func (s *Sim) pushPull(n *node, m int32, join bool) {
	peer := s.nodes[m]
	if !s.handshake(n, peer, catPushPull) {
		return
	}
	segs := s.dataSegments(len(s.nodes))
	// Beyond one segment each way: every extra data segment, and an ACK
	// for every second one from the receiving side.
	extra := segs - 1 + segs/2
	n.count(catPushPull, s.p.InitiatorSegments-1+extra)
	peer.count(catPushPull, s.p.ResponderSegments-1+extra)
	p := s.newPacket(pkState, n.id, m)
	p.state, p.join = s.snapshot(n), join
	s.q.push(event{at: s.q.now + 3*s.p.Base + s.sched(), kind: evStateArrives, node: m, life: peer.life, pkt: p})
}

func (s *Sim) snapshot(n *node) []memberView {
	out := make([]memberView, len(n.view))
	copy(out, n.view)
	return out
}

// stateArrives: a push reaches the other end, which answers with its
// state and merges; or the answer reaches the initiator, which merges.
func (s *Sim) stateArrives(n *node, p *packet) {
	if !p.reply {
		back := s.newPacket(pkState, n.id, p.from)
		back.state, back.reply = s.snapshot(n), true
		from := s.nodes[p.from]
		s.q.push(event{at: s.q.now + s.p.Base + s.sched(), kind: evStateArrives, node: p.from, life: from.life, pkt: back})
	}
	s.mergeState(n, p.state)
	s.freePacket(p)
}

// mergeState is memberlist's: alive news as alive, a death as a
// suspicion of its own (it prefers to suspect), a leave as a leave.
func (s *Sim) mergeState(n *node, remote []memberView) {
	for i, r := range remote {
		id := int32(i)
		switch r.state {
		case stAlive:
			s.aliveNode(n, gossipMsg{kind: msgAlive, node: id, from: id, inc: r.inc})
		case stLeft:
			s.deadNode(n, gossipMsg{kind: msgDead, node: id, from: id, inc: r.inc})
		case stDead, stSuspect:
			s.suspectNode(n, gossipMsg{kind: msgSuspect, node: id, from: n.id, inc: r.inc})
		}
	}
}
