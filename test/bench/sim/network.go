package main

import (
	"math"
	"time"
)

// category is what a packet a node sends is counted as. Every one is a
// packet an iptables counter on the memberlist port would count on the
// sending node (UDP from port 7946, TCP to or from it), as
// test/bench/failover's -scale does.
type category int

const (
	catProbe    category = iota // memberlist's probes: pings, acks, indirect requests, relayed pings and acks, nacks
	catWatch                    // the successor's watch: its pings, and the acks to them
	catGossip                   // memberlist's gossip packets (news piggybacked on the above is not a packet more)
	catPushPull                 // push-pull TCP segments, nudges (a join) included
	catTCPPing                  // memberlist's TCP pings beside the indirect probes
	catCheck                    // the death check, the cut-off check's witnesses, revivals: TCP handshakes
	numCategories
)

var categoryNames = [numCategories]string{"probes", "watch", "gossip", "push-pull", "TCP pings", "death checks"}

// stall is a span in which a node's process does not run.
type stall struct{ start, end time.Duration }

// sched is how long a process takes to run once woken: lognormal, zero
// when the preset says at once.
func (s *Sim) sched() time.Duration {
	if s.p.SchedMedian <= 0 {
		return 0
	}
	return time.Duration(float64(s.p.SchedMedian) * math.Exp(s.p.SchedSigma*s.rng.NormFloat64()))
}

func (s *Sim) lossy() bool { return s.p.Loss > 0 && s.rng.Float64() < s.p.Loss }

// stalledUntil returns the end of the stall of n's process that covers t,
// or t when none does. Stalls are drawn lazily, in order, as far ahead as
// asked; those over before now are forgotten.
func (s *Sim) stalledUntil(n *node, t time.Duration) time.Duration {
	for s.p.StallRate > 0 && (len(n.stalls) == 0 || n.stalls[len(n.stalls)-1].start <= t) {
		from := n.stallsFrom
		if k := len(n.stalls); k > 0 {
			from = n.stalls[k-1].end
		}
		start := from + time.Duration(s.rng.ExpFloat64()/s.p.StallRate*float64(time.Second))
		d := time.Duration(float64(s.p.StallMedian) * math.Exp(s.p.StallSigma*s.rng.NormFloat64()))
		n.stalls = append(n.stalls, stall{start: start, end: start + d})
	}
	if len(n.stalls) == 0 {
		return t
	}
	drop := 0
	for drop < len(n.stalls)-1 && n.stalls[drop].end <= s.q.now {
		drop++
	}
	if drop > 0 {
		n.stalls = append(n.stalls[:0], n.stalls[drop:]...)
	}
	for _, st := range n.stalls {
		if st.start > t {
			break
		}
		if t < st.end {
			return st.end
		}
	}
	return t
}

// freeze stops n's process from now for d (a SIGSTOP, a pod start on a
// busy node): on a network without stalls of its own.
func (s *Sim) freeze(n *node, d time.Duration) {
	n.stalls = append(n.stalls[:0], stall{start: s.q.now, end: s.q.now + d})
}

// wake is when n's process, woken at t, runs: after its scheduling delay,
// and not before a stall it is in ends.
func (s *Sim) wake(n *node, t time.Duration) time.Duration {
	return s.stalledUntil(n, t+s.sched())
}

// send counts p as sent by from and, unless lost, delivers it to its
// destination's process one base delay later plus the time that process
// takes to run. A dead sender sends nothing; a dead destination drops it
// on arrival.
func (s *Sim) send(from *node, p *packet, cat category) {
	from.count(cat, 1)
	if s.lossy() {
		s.freePacket(p)
		return
	}
	to := s.nodes[p.to]
	s.q.push(event{at: s.q.now + s.p.Base + s.sched(), kind: evDeliver, node: p.to, life: to.life, pkt: p})
}

func (n *node) count(cat category, k int) {
	n.sent[cat] += int64(k)
}

// dataSegments is how many TCP segments carry a push-pull's state of
// members members.
func (s *Sim) dataSegments(members int) int {
	bytes := members * s.p.StateBytesPerMember
	segs := (bytes + s.p.MSS - 1) / s.p.MSS
	return max(segs, 1)
}

// handshake tries a TCP connection from n to m's port: the kernel at m
// answers whatever its process does, so only loss and a dead node (its
// link cut) stop it. It counts the SYN on n and the SYN-ACK on m, and
// returns whether n got the answer.
func (s *Sim) handshake(n, m *node, cat category) bool {
	n.count(cat, 1)
	if !m.up || s.lossy() {
		return false
	}
	m.count(cat, 1)
	return !s.lossy()
}
