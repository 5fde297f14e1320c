package main

import "time"

// eventKind says what an event does when its time comes. The frequent
// ones (a packet arriving, a timer of memberlist or of the watch) are
// plain values, so that the queue holds no closures and a run at 1,000
// nodes allocates little; rare ones (the experiments' own steps) carry a
// function (evControl).
type eventKind uint8

const (
	evDeliver       eventKind = iota // a UDP packet reaches its node's process
	evProbeTick                      // memberlist's probe ticker
	evProbeTimeout                   // a direct probe's ProbeTimeout
	evProbeDeadline                  // a probe's whole interval: indirect answers and the TCP ping are in
	evRelayTimeout                   // an indirect ping this node relays went unanswered: nack
	evGossipTick                     // memberlist's gossip ticker
	evPushPullTick                   // memberlist's push-pull timer
	evStateArrives                   // a push-pull's state reaches the other end's process
	evSuspicion                      // a suspicion timer runs out
	evWatchTick                      // the successor's watch pings again
	evWatchTimeout                   // a watch ping went unanswered
	evCheckDone                      // a death check's verdict reaches the loop
	evRecheck                        // a held member is connected to again
	evHoldEnds                       // a held member's StalledHold ran out
	evRevive                         // a member taken over as gone is asked again
	evControl                        // an experiment's own step
)

// event is one thing that happens at a virtual time. node is the node
// whose process handles it, life the node's life it belongs to (a kill or
// a restart starts a new one, and whatever was pending for the old one is
// dropped). The other fields mean what the kind says.
type event struct {
	at      time.Duration
	seq     uint64 // insertion order: events at one time run first in, first out
	kind    eventKind
	node    int32
	peer    int32
	life    uint32
	gen     uint32
	nominal time.Duration // a ticker's tick as scheduled, before the process woke for it
	reach   reachability  // evCheckDone: the check's verdict
	pkt     *packet
	fn      func()
}

// eventQueue is a binary heap ordered by time, then by insertion, with the
// virtual clock: now is the time of the last event popped.
type eventQueue struct {
	heap []event
	seq  uint64
	now  time.Duration
}

func (q *eventQueue) len() int { return len(q.heap) }

func before(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// push adds e; an event in the past runs now (the clock never goes back).
func (q *eventQueue) push(e event) {
	if e.at < q.now {
		e.at = q.now
	}
	q.seq++
	e.seq = q.seq
	q.heap = append(q.heap, e)
	i := len(q.heap) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !before(&q.heap[i], &q.heap[parent]) {
			break
		}
		q.heap[i], q.heap[parent] = q.heap[parent], q.heap[i]
		i = parent
	}
}

// pop removes the earliest event and advances the clock to it.
func (q *eventQueue) pop() event {
	top := q.heap[0]
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap[last] = event{}
	q.heap = q.heap[:last]
	i := 0
	for {
		l, r, least := 2*i+1, 2*i+2, i
		if l < last && before(&q.heap[l], &q.heap[least]) {
			least = l
		}
		if r < last && before(&q.heap[r], &q.heap[least]) {
			least = r
		}
		if least == i {
			break
		}
		q.heap[i], q.heap[least] = q.heap[least], q.heap[i]
		i = least
	}
	q.now = top.at
	return top
}

// peekTime is the time of the earliest event; ok false when none.
func (q *eventQueue) peekTime() (time.Duration, bool) {
	if len(q.heap) == 0 {
		return 0, false
	}
	return q.heap[0].at, true
}
