package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Experiments: hard kills timed to the first gratuitous ARP and as the
// ARP client sees them, false alarms at rest, and the packets a node
// sends at rest.

// Fixed parts of the experiments, chosen so that what is measured starts
// from a settled cluster and one kill does not overlap the next.
const (
	// warmup lets tickers, watches and their round-trip estimates settle
	// before anything is measured.
	warmup = 5 * time.Second
	// noOwnerAfter: a kill with no new owner this long after it is
	// counted as such (test/bench/failover waits 10 s too).
	noOwnerAfter = 10 * time.Second
	// restartAfter: the killed node comes back this long after its VIP
	// was taken over (the harness restarts it as soon as it saw the new
	// owner), and the next kill of its lane waits settleAfterRestart
	// more, plus a random part of killSpread.
	restartAfter       = time.Second
	settleAfterRestart = 2 * time.Second
	killSpread         = time.Second
)

// Experiment is what one run measures beside the parameters.
type Experiment struct {
	Kills int
	// NodesPerLane: kills run in parallel lanes, one per this many nodes
	// (at least one), each killing a node that owns, succeeds or is
	// succeeded by no node another lane is killing; at 1,000 nodes ten
	// failovers in flight among 1,000 members do not meet.
	NodesPerLane int
	Losses       []float64
	// The false-alarm window per loss: NodeHours of node time, between
	// MinWindow and MaxWindow of simulated time.
	NodeHours            float64
	MinWindow, MaxWindow time.Duration
	Seed                 uint64
	// FixedVIP, when not negative, is the one VIP whose owner every kill
	// kills, as test/bench/failover kills the owner of its first VIP.
	FixedVIP int
}

func (e Experiment) window(n int) time.Duration {
	w := time.Duration(e.NodeHours * float64(time.Hour) / float64(n))
	return min(max(w, e.MinWindow), e.MaxWindow)
}

// failoverResult is the hard kills of one cluster size.
type failoverResult struct {
	garp   []time.Duration // the fault to the new owner's first gratuitous ARP
	client []time.Duration // the ARP client's outage: its last answer from the old owner to its first from the new
	// figureOver is the new owner's own failover figure (from the last
	// packet it heard of the dead member to its announcement: the
	// speaker's takeover log line and metric) minus the client's outage.
	figureOver []time.Duration
	noOwner    int
	simulated  time.Duration
}

// runFailover kills VIP owners one after another (in lanes on a large
// cluster), each at a random moment, and times each kill's VIP.
func runFailover(p Params, n int, e Experiment, seed uint64) failoverResult {
	s := newSim(p, n, seed)
	s.runUntil(warmup)
	var res failoverResult
	type lane struct {
		victim int32
		vip    int
		t0     time.Duration
		phase  time.Duration // the client's probe grid
		done   bool
	}
	active := map[int32]*lane{}
	started, finished := 0, 0
	lanes := max(1, n/max(e.NodesPerLane, 1))

	// busy: the active victims and every node that would succeed one of
	// them (as the agents see it, all alive). A new victim is none of
	// them, and its VIP's successor neither: lanes stay out of each
	// other's way, as on a cluster where one node fails at a time.
	allAlive := make([]bool, n)
	for i := range allAlive {
		allAlive[i] = true
	}
	busy := func() map[int32]bool {
		b := map[int32]bool{}
		for v := range active {
			b[v] = true
		}
		for svc := range s.rank.order {
			if owner, next := s.rank.ownerAndSuccessor(svc, allAlive); next >= 0 && active[owner] != nil {
				b[next] = true
			}
		}
		return b
	}
	var startKill func()
	finish := func(l *lane) {
		delete(active, l.victim)
		finished++
		s.at(s.q.now+restartAfter, func() {
			s.restart(l.victim)
			s.at(s.q.now+settleAfterRestart+s.randDuration(killSpread), startKill)
		})
	}
	startKill = func() {
		if started >= e.Kills {
			return
		}
		b := busy()
		for tries := 0; tries < 100*n; tries++ {
			vip := e.FixedVIP
			if vip < 0 {
				vip = s.rng.IntN(len(s.rank.order))
			}
			owner, next := s.rank.ownerAndSuccessor(vip, allAlive)
			if owner < 0 || next < 0 || b[owner] || b[next] || !s.nodes[owner].up || !s.nodes[next].up {
				continue
			}
			started++
			l := &lane{victim: owner, vip: vip, t0: s.q.now, phase: s.randDuration(p.ClientInterval)}
			active[owner] = l
			s.kill(owner)
			s.at(s.q.now+noOwnerAfter, func() {
				if !l.done {
					l.done = true
					res.noOwner++
					finish(l)
				}
			})
			return
		}
		// No node free to kill: try again once a lane finished.
		s.at(s.q.now+killSpread, startKill)
	}
	s.onAnnounce = func(x, from int32, at time.Duration) {
		l, ok := active[from]
		if !ok || l.done || s.rank.owner(l.vip, s.nodes[x].agentAlive) != x {
			return
		}
		l.done = true
		res.garp = append(res.garp, at-l.t0)
		outage := s.clientOutage(l.t0, at, l.phase, s.nodes[x])
		res.client = append(res.client, outage)
		if last := s.nodes[x].heard[from]; last != never {
			res.figureOver = append(res.figureOver, at-last-outage)
		}
		finish(l)
	}
	for i := range lanes {
		s.at(s.q.now+time.Duration(i)*killSpread/time.Duration(lanes)+s.randDuration(killSpread), startKill)
	}
	for finished < e.Kills {
		next, ok := s.q.peekTime()
		if !ok {
			break
		}
		s.runUntil(next)
	}
	res.simulated = s.q.now
	return res
}

// clientOutage is what test/bench/failover's ARP client sees: it asks
// every ClientInterval (on a grid of the given phase) and each request
// waits for its answer until the next; the outage runs from its last
// answer from the old owner (a request that reached it before the fault)
// to its first from the new one (a request that reached it once it
// announced). A gratuitous ARP is a request, which the client's Resolve
// ignores: only answers count.
func (s *Sim) clientOutage(fault, announced, phase time.Duration, next *node) time.Duration {
	ci := s.p.ClientInterval
	grid := func(t time.Duration) time.Duration { // the last request sent at or before t
		return t - ((t-phase)%ci+ci)%ci
	}
	lastAsked := grid(fault - s.p.Base)
	lastAnswer := lastAsked + 2*s.p.Base + s.sched()
	firstAsked := grid(announced - s.p.Base)
	if firstAsked+s.p.Base < announced {
		firstAsked += ci
	}
	firstAnswer := s.wake(next, firstAsked+s.p.Base) + s.p.Base
	return firstAnswer - lastAnswer
}

// restResult is one window at rest at one loss.
type restResult struct {
	loss           float64
	window         time.Duration
	nodeHours      float64
	falseTakeovers int
	falseDeaths    int
	suspicions     int
	watchChecks    int
	perNode        [numCategories]float64 // packets per second per node
}

func (r restResult) packetsPerNode() float64 {
	var sum float64
	for _, v := range r.perNode {
		sum += v
	}
	return sum
}

// runRest lets a cluster run with nothing failing for window, at the
// given loss, and counts what moved and what was sent.
func runRest(p Params, n int, loss float64, window time.Duration, seed uint64) restResult {
	p.Loss = loss
	s := newSim(p, n, seed)
	s.runUntil(warmup)
	s.resetTally()
	s.runUntil(warmup + window)
	r := restResult{loss: loss, window: window, nodeHours: float64(n) * window.Hours(),
		falseTakeovers: s.tally.falseTakeovers, falseDeaths: len(s.tally.falseDeaths),
		suspicions: s.tally.suspicions, watchChecks: s.tally.watchChecks}
	for _, nd := range s.nodes {
		for c, k := range nd.sent {
			r.perNode[c] += float64(k)
		}
	}
	for c := range r.perNode {
		r.perNode[c] /= float64(n) * window.Seconds()
	}
	return r
}

func (s *Sim) resetTally() {
	s.tally = tally{since: s.q.now, falseDeaths: map[uint64]struct{}{}}
	for _, nd := range s.nodes {
		nd.sent = [numCategories]int64{}
	}
}

// sizeResult is everything measured at one cluster size.
type sizeResult struct {
	n        int
	failover failoverResult
	rest     []restResult // one per loss, in Experiment.Losses' order
	took     time.Duration
}

// quantile is the q-quantile of ds by the nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// expectedMax is the expected largest of k draws from ds (with
// replacement): what "max of k runs" estimates.
func expectedMax(ds []time.Duration, k int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	n := float64(len(sorted))
	var sum float64
	for i, d := range sorted {
		hi, lo := float64(i+1)/n, float64(i)/n
		sum += float64(d) * (pow(hi, k) - pow(lo, k))
	}
	return time.Duration(sum)
}

func pow(x float64, k int) float64 {
	r := 1.0
	for range k {
		r *= x
	}
	return r
}

func newSeededRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5a3_71e)) }
