package main

import (
	"math/rand/v2"
	"time"
)

// never is a time that has not happened: the zero time.Time of the
// speaker's code (virtual time starts at 0, which is a time).
const never time.Duration = -1

// mlState is a member's state in one node's memberlist.
type mlState uint8

const (
	stAlive mlState = iota
	stSuspect
	stDead
	stLeft
)

// memberView is what one node's memberlist holds about a member.
type memberView struct {
	inc     uint32
	state   mlState
	changed time.Duration
}

// msgKind is a gossip message's kind.
type msgKind uint8

const (
	msgAlive msgKind = iota
	msgSuspect
	msgDead
)

// gossipMsg is one of memberlist's alive, suspect and dead messages.
type gossipMsg struct {
	kind msgKind
	node int32
	from int32
	inc  uint32
}

// packetKind is what a packet carries first; gossip rides along (msgs).
type packetKind uint8

const (
	pkPing packetKind = iota
	pkAck
	pkIndirect // an indirect probe request
	pkNack
	pkGossip
	pkState // a push-pull's state, over TCP
)

type packet struct {
	kind     packetKind
	from, to int32
	seq      uint32 // of the ping the ack, nack or request is about
	target   int32  // pkIndirect: the member to probe
	watch    bool   // a watch ping or the ack to one
	msgs     []gossipMsg
	state    []memberView // pkState
	join     bool         // pkState: a join (the speaker's nudge)
	reply    bool         // pkState: the answer to a push
}

// handlerKind is what an ack is awaited by.
type handlerKind uint8

const (
	hProbe handlerKind = iota // this node's own probe
	hWatch                    // the watch's ping
	hRelay                    // an indirect probe this node makes for another
)

type handler struct {
	kind   handlerKind
	peer   int32 // hWatch: the watched member; hRelay: the requester
	reqSeq uint32
	gen    uint32
}

// probeState is memberlist's probeNode in progress (one at a time: the
// ticker skips while it runs).
type probeState struct {
	active, acked, indirect, tcpContact, pendingTick bool
	gen                                              uint32
	seq                                              uint32
	target                                           int32
	sent, deadline                                   time.Duration
	expectedNacks, nacks                             int
}

// suspicion is memberlist's suspicion timer (suspicion.go).
type suspicion struct {
	k, n      int
	min, max  time.Duration
	start     time.Duration
	changed   time.Duration // the state change it was started for
	confirmed []int32
	gen       uint32
}

type broadcast struct {
	msg       gossipMsg
	transmits int
	id        uint64
}

// node is one speaker: its memberlist and its loop.
type node struct {
	id   int32
	up   bool // its process runs and its link is up; a hard kill ends both
	life uint32

	// memberlist
	inc         uint32
	view        []memberView
	probeOrder  []int32
	probeIdx    int
	probe       probeState
	awareness   int
	seq         uint32
	handlers    map[uint32]handler
	suspicions  map[int32]*suspicion
	bq          []broadcast
	bqID        uint64
	gossipArmed bool
	gossipPhase time.Duration
	heard       []time.Duration // when a packet of each member last arrived (members.heardAt)

	// the speaker's loop
	agentAlive      []bool
	agentDead       int
	preds           []int32
	watches         map[int32]*watch
	deaths          map[int32]*death
	believedOnWatch map[int32]bool
	revivals        map[int32]uint32

	stalls     []stall
	stallsFrom time.Duration
	sent       [numCategories]int64
}

// tally counts what the experiments report, from the last reset.
type tally struct {
	since          time.Duration
	falseTakeovers int                 // a node took VIPs over from a live one
	falseDeaths    map[uint64]struct{} // live members declared dead, by member and incarnation
	suspicions     int                 // suspicions of live members started by a failed probe
	watchChecks    int                 // death checks of live members started by the watch
}

// Sim is one simulated cluster.
type Sim struct {
	p       Params
	q       eventQueue
	rng     *rand.Rand
	nodes   []*node
	rank    *ranking
	gen     uint32
	free    []*packet
	scratch []int32
	tally   tally
	// onAnnounce, when set, is told when a node starts announcing VIPs
	// it took over from a member it believes gone: its first gratuitous
	// ARP goes out at at.
	onAnnounce func(x, from int32, at time.Duration)
}

// newSim builds a settled cluster of n nodes: every member alive in
// every view, tickers at random phases, watches started.
func newSim(p Params, n int, seed uint64) *Sim {
	vips := p.vips
	if vips == nil {
		vips = labVIPs(n * p.VIPsPerNode)
	}
	s := &Sim{p: p, rng: rand.New(rand.NewPCG(seed, 0x51e5_1a7e)), rank: newRanking(labNodeNames(n), vips)}
	s.tally.falseDeaths = map[uint64]struct{}{}
	s.nodes = make([]*node, n)
	for i := range s.nodes {
		s.nodes[i] = &node{id: int32(i)}
	}
	for _, nd := range s.nodes {
		nd.inc = 1
		nd.view = make([]memberView, n)
		for j := range nd.view {
			nd.view[j] = memberView{inc: 1, state: stAlive}
		}
		s.boot(nd)
	}
	return s
}

// boot starts a node's process: empty queues, no probe, tickers at
// random phases, its agent holding alive whom its memberlist does.
func (s *Sim) boot(nd *node) {
	n := len(s.nodes)
	nd.up = true
	nd.life++
	nd.probeOrder = make([]int32, n)
	for i := range nd.probeOrder {
		nd.probeOrder[i] = int32(i)
	}
	s.shuffle(nd.probeOrder)
	nd.probeIdx = 0
	nd.probe = probeState{}
	nd.awareness = 0
	nd.handlers = map[uint32]handler{}
	nd.suspicions = map[int32]*suspicion{}
	nd.bq = nd.bq[:0]
	nd.gossipArmed = false
	nd.heard = make([]time.Duration, n)
	for i := range nd.heard {
		nd.heard[i] = never
	}
	nd.agentAlive = make([]bool, n)
	nd.agentDead = 0
	for i, v := range nd.view {
		nd.agentAlive[i] = v.state == stAlive || v.state == stSuspect
		if !nd.agentAlive[i] {
			nd.agentDead++
		}
	}
	nd.preds = s.rank.predecessors(nd.id, nd.agentAlive, nd.agentDead, nil)
	nd.watches = map[int32]*watch{}
	nd.deaths = map[int32]*death{}
	nd.believedOnWatch = map[int32]bool{}
	nd.revivals = map[int32]uint32{}
	nd.stalls, nd.stallsFrom = nd.stalls[:0], s.q.now
	now := s.q.now
	// memberlist staggers each ticker by a random part of its interval.
	s.tick(nd, evProbeTick, now+s.randDuration(s.p.ProbeInterval))
	nd.gossipPhase = now + s.randDuration(s.p.GossipInterval)
	if s.p.PushPullInterval > 0 {
		// memberlist staggers the first push-pull within the unscaled
		// interval; over the scaled one here, so that a short window
		// on a large cluster sees the steady rate, not the start's.
		s.tick(nd, evPushPullTick, now+s.randDuration(pushPullScale(s.p.PushPullInterval, n)))
	}
	s.rewatch(nd)
}

func (s *Sim) randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(s.rng.Int64N(int64(d)))
}

func (s *Sim) shuffle(ids []int32) {
	s.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
}

func (s *Sim) nextGen() uint32 {
	s.gen++
	return s.gen
}

func (s *Sim) now() time.Duration { return s.q.now }

// after wakes n's process d from now for kind.
func (s *Sim) after(n *node, d time.Duration, kind eventKind, peer int32, gen uint32) {
	s.q.push(event{at: s.q.now + d + s.sched(), kind: kind, node: n.id, peer: peer, life: n.life, gen: gen})
}

// tick wakes n's process for a ticker's tick due at nominal.
func (s *Sim) tick(n *node, kind eventKind, nominal time.Duration) {
	s.q.push(event{at: nominal + s.sched(), kind: kind, node: n.id, life: n.life, nominal: nominal})
}

// at runs an experiment's step at t.
func (s *Sim) at(t time.Duration, fn func()) {
	s.q.push(event{at: t, kind: evControl, fn: fn})
}

// runUntil handles every event up to t; the clock then reads t.
func (s *Sim) runUntil(t time.Duration) {
	for {
		at, ok := s.q.peekTime()
		if !ok || at > t {
			break
		}
		s.dispatch(s.q.pop())
	}
	s.q.now = t
}

func (s *Sim) dispatch(e event) {
	if e.kind == evControl {
		e.fn()
		return
	}
	n := s.nodes[e.node]
	if !n.up || n.life != e.life {
		if e.pkt != nil {
			s.freePacket(e.pkt)
		}
		return
	}
	if end := s.stalledUntil(n, e.at); end > e.at {
		// The process is stopped: this waits, and after the stall the
		// process takes what waited in an order of its own.
		e.at = end + s.sched()
		s.q.push(e)
		return
	}
	switch e.kind {
	case evDeliver:
		s.deliver(n, e.pkt)
	case evStateArrives:
		s.stateArrives(n, e.pkt)
	case evProbeTick:
		s.probeTick(n, e.nominal)
	case evProbeTimeout:
		s.probeTimeout(n, e.gen)
	case evProbeDeadline:
		s.probeDeadline(n, e.gen)
	case evRelayTimeout:
		s.relayTimeout(n, uint32(e.gen))
	case evGossipTick:
		s.gossipTick(n, e.nominal)
	case evPushPullTick:
		s.pushPullTick(n, e.nominal)
	case evSuspicion:
		s.suspicionFires(n, e.peer, e.gen)
	case evWatchTick:
		s.watchTick(n, e.peer, e.gen)
	case evWatchTimeout:
		s.watchTimeout(n, e.peer, e.gen)
	case evCheckDone:
		s.checkDone(n, e.peer, e.gen, e.reach)
	case evRecheck:
		s.recheck(n, e.peer, e.gen)
	case evHoldEnds:
		s.holdEnds(n, e.peer, e.gen)
	case evRevive:
		s.revive(n, e.peer, e.gen)
	}
}

func (s *Sim) newPacket(kind packetKind, from, to int32) *packet {
	var p *packet
	if k := len(s.free); k > 0 {
		p = s.free[k-1]
		s.free = s.free[:k-1]
		msgs := p.msgs[:0]
		*p = packet{msgs: msgs}
	} else {
		p = &packet{}
	}
	p.kind, p.from, p.to = kind, from, to
	return p
}

func (s *Sim) freePacket(p *packet) {
	p.state = nil
	s.free = append(s.free, p)
}

// kill is a hard kill: the node's link is cut and its speaker killed.
// Nothing it would send goes out, nothing sent to it arrives, and its
// memberlist port answers no handshake.
func (s *Sim) kill(id int32) {
	n := s.nodes[id]
	n.up = false
	n.life++
}

// restart brings a killed node back as a join would leave it: its
// memberlist a copy of a live member's, itself alive at an incarnation
// above any accusation, and every live member told at once (what its
// refutation's gossip does within a few rounds). The rejoin is not what
// the simulation measures; this keeps the kills that follow independent.
func (s *Sim) restart(id int32) {
	n := s.nodes[id]
	var donor *node
	for _, m := range s.nodes {
		if m.up && m.id != id {
			donor = m
			break
		}
	}
	inc := n.inc
	for _, m := range s.nodes {
		if m.up {
			inc = max(inc, m.view[id].inc)
		}
	}
	n.inc = inc + 1
	if donor != nil {
		copy(n.view, donor.view)
	}
	n.view[id] = memberView{inc: n.inc, state: stAlive, changed: s.q.now}
	s.boot(n)
	for _, m := range s.nodes {
		if !m.up || m.id == id {
			continue
		}
		s.aliveNode(m, gossipMsg{kind: msgAlive, node: id, from: id, inc: n.inc})
		m.heard[id] = never
	}
}

// mlAlive reports whether x's memberlist holds y alive (members.Alive:
// from its join until its death, suspect included).
func (n *node) mlAlive(y int32) bool {
	st := n.view[y].state
	return st == stAlive || st == stSuspect
}
