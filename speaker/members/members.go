// Package members is the speakers' fast failure detector: every speaker
// joins one memberlist cluster, and a member that stops answering probes is
// declared dead in a few hundred milliseconds. It is the only importer of
// hashicorp/memberlist. The Node's Ready condition stays the slow,
// authoritative signal; this one is fast.
package members

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
)

// Options configure membership. Every timer trades detection speed against
// false alarms; the defaults (DefaultOptions) are tuned for a LAN where a
// probe's round trip is well under a millisecond and detection should take
// a few hundred.
type Options struct {
	// NodeName is this member's name: the Kubernetes node name.
	NodeName string
	// BindAddr and BindPort are where memberlist listens (TCP and UDP).
	BindAddr string
	BindPort int
	// SecretKey encrypts every memberlist packet; see KeyFromSecret.
	SecretKey []byte
	Log       logr.Logger

	// ProbeInterval is how often this member probes a random other one.
	// A dead member is probed by someone within about ProbeInterval /
	// (members-1) on average. 1 s, memberlist's LAN default: failover
	// does not wait for memberlist (the successor's watch, loop.Watcher,
	// finds a dead owner in a few hundred milliseconds), so its probes
	// only find the deaths nobody watches; each probe wakes two
	// processes, and at 100 ms they cost a speaker at rest about 1.4 %
	// of a core more (docs/benchmarks.md, "Cluster size").
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits before asking others
	// to probe indirectly, and how long the watch's pings wait (Ping).
	// 50 ms is fifty LAN round trips: only a loaded or dead node misses
	// it, and the indirect probes then tell which.
	ProbeTimeout time.Duration
	// IndirectChecks is how many members probe on our behalf before
	// suspecting: more means fewer false alarms from one lost packet.
	IndirectChecks int
	// SuspicionMult sets how long a suspect has to refute before it is
	// declared dead: SuspicionMult × log10(members+1) (at least 1) ×
	// ProbeInterval, 4 s on small clusters with 4, memberlist's own LAN
	// default. Failover does not wait for it: the node that would take a
	// member's VIPs over watches it itself (loop.Watcher). With 1, live
	// speakers starved of CPU on a large cluster (30 on two cores) were
	// declared dead faster than they could refute, and the cluster never
	// settled (docs/benchmarks.md, "Cluster size").
	SuspicionMult int
	// SuspicionMaxTimeoutMult caps the suspicion timeout, which starts
	// this many times longer and shrinks as independent confirmations
	// arrive; 3 bounds the worst case on clusters too small to confirm.
	SuspicionMaxTimeoutMult int
	// GossipInterval and GossipNodes spread news (a death) to GossipNodes
	// random members every GossipInterval: 200 ms × 4, memberlist's LAN
	// default, reaches a thousand members within a few seconds, well
	// within the suspicion timeout a falsely suspected member has to
	// refute; every tick wakes the speaker, news or not.
	GossipInterval time.Duration
	GossipNodes    int
	// RetransmitMult retransmits each gossip RetransmitMult × log(N+1)
	// times, covering packet loss.
	RetransmitMult int
	// PushPullInterval is the full-state sync period that heals whatever
	// gossip missed. 10 s: cheap with few members.
	PushPullInterval time.Duration
	// TCPTimeout bounds stream connections (joins, push-pull).
	TCPTimeout time.Duration
	// AwarenessMaxMultiplier lets a member that notices it is slow itself
	// (missed acks, CPU starvation) probe others less eagerly, so a
	// starved node does not accuse healthy ones (memberlist's Lifeguard).
	AwarenessMaxMultiplier int
	// ReachTimeout bounds Reach, the check of a member declared dead
	// (DefaultReachTimeout when zero).
	ReachTimeout time.Duration
}

// DefaultOptions returns the tuned timers; the caller fills in identity,
// addresses and key.
func DefaultOptions() Options {
	return Options{
		BindPort:                7946,
		ProbeInterval:           time.Second,
		ProbeTimeout:            50 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 3,
		GossipInterval:          200 * time.Millisecond,
		GossipNodes:             4,
		RetransmitMult:          4,
		PushPullInterval:        10 * time.Second,
		TCPTimeout:              time.Second,
		AwarenessMaxMultiplier:  8,
		ReachTimeout:            DefaultReachTimeout,
	}
}

// KeyFromSecret derives the memberlist key from the memberlist Secret's
// value the way MetalLB's speakers do, so IronLB and MetalLB speakers can
// share a cluster during a migration: the first 32 bytes of the secret
// followed by SHA-256 of the empty string.
func KeyFromSecret(secret []byte) []byte {
	empty := sha256.Sum256(nil)
	return append(slices.Clone(secret), empty[:]...)[:32]
}

// LoadSecretKey reads the file "secretkey" of the mounted memberlist
// Secret and derives the key. A missing or empty key is an error: an
// unencrypted memberlist would let anyone on the LAN steer failover.
func LoadSecretKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secretkey")
	secret, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the memberlist key: %w", err)
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("the memberlist key %s is empty", path)
	}
	return KeyFromSecret(secret), nil
}

// EventKind is what happened to a member.
type EventKind int

const (
	// Joined: a member became alive.
	Joined EventKind = iota
	// Left: a member was declared dead or left gracefully.
	Left
)

func (k EventKind) String() string {
	if k == Left {
		return "left"
	}
	return "joined"
}

// Event is one membership change, stamped when this member learned it.
type Event struct {
	Kind EventKind
	Node string
	At   time.Time
	// LastContact, for Left, is when this member last heard from the node:
	// any packet of it, or an answer to a probe (the later one). It bounds
	// the failure from below and starts failure detection. Zero when it
	// heard nothing since the node joined.
	LastContact time.Time
	// Graceful, for Left: the member said it was leaving (a speaker
	// stopping) instead of being declared dead by the others.
	Graceful bool
	// Addr is the member's memberlist address ("host:port").
	Addr string
}

// Members is this speaker's membership. Start owns memberlist's goroutines.
type Members struct {
	opts Options

	mu      sync.Mutex // guards ml, crashed, leaving, queue, alive, acked, heardAt, addrOf
	ml      *memberlist.Memberlist
	crashed bool // memberlist was stopped without leaving (tests simulate a crash)
	leaving bool // this member is about to leave: its metadata says so
	queue   []Event
	alive   map[string]bool
	acked   map[string]time.Time // node → when a probe of it was last answered
	// heardAt: a member's memberlist address → when a packet from it last
	// arrived; only members' addresses are kept (packets from anyone else
	// are not recorded, so the map cannot be grown from outside).
	heardAt map[string]time.Time
	addrOf  map[string]string // node → its memberlist address
	echoes  map[string]bool   // node → it answers echoes (its metadata says so)
	tr      *transport
	notify  chan struct{} // signalled when queue grows
	started chan struct{}
	settled chan struct{} // closed by MarkSettled
	settle  sync.Once
}

// New checks the options; nothing runs until Start.
func New(o Options) (*Members, error) {
	if o.NodeName == "" {
		return nil, errors.New("members: no node name")
	}
	if len(o.SecretKey) != 32 {
		return nil, errors.New("members: the memberlist key must be 32 bytes (see LoadSecretKey)")
	}
	return &Members{opts: o, alive: map[string]bool{}, acked: map[string]time.Time{}, heardAt: map[string]time.Time{}, addrOf: map[string]string{}, echoes: map[string]bool{},
		notify: make(chan struct{}, 1), started: make(chan struct{}), settled: make(chan struct{})}, nil
}

// Start joins nothing yet (see Join), serves until ctx ends, then leaves
// gracefully so the others learn at once, and shuts memberlist down.
func (m *Members) Start(ctx context.Context) error {
	c := memberlist.DefaultLANConfig()
	o := m.opts
	c.Name = o.NodeName
	if o.BindAddr != "" {
		c.BindAddr = o.BindAddr
	}
	c.BindPort = o.BindPort
	tr, err := newTransport(c.BindAddr, c.BindPort, o.NodeName, o.SecretKey, m.heard, o.Log.WithName("transport"))
	if err != nil {
		return fmt.Errorf("starting memberlist on %s: %w", bindAddress(c.BindAddr, o.BindPort), err)
	}
	c.Transport = tr
	c.AdvertiseAddr, c.AdvertisePort = o.BindAddr, o.BindPort
	c.SecretKey = o.SecretKey
	c.ProbeInterval, c.ProbeTimeout = o.ProbeInterval, o.ProbeTimeout
	c.IndirectChecks = o.IndirectChecks
	c.SuspicionMult, c.SuspicionMaxTimeoutMult = o.SuspicionMult, o.SuspicionMaxTimeoutMult
	c.GossipInterval, c.GossipNodes = o.GossipInterval, o.GossipNodes
	c.RetransmitMult = o.RetransmitMult
	c.PushPullInterval = o.PushPullInterval
	c.TCPTimeout = o.TCPTimeout
	c.AwarenessMaxMultiplier = o.AwarenessMaxMultiplier
	// A node that comes back under the same name is accepted at once.
	c.DeadNodeReclaimTime = time.Nanosecond
	c.Events = (*eventDelegate)(m)
	c.Ping = (*eventDelegate)(m)
	c.Delegate = (*metaDelegate)(m)
	c.LogOutput = logWriter{o.Log}
	// Every packet memberlist sends was first run through a new LZW
	// writer (a 64 KiB table each time) and sent compressed only when
	// that made it shorter, which a probe or an ack never is: a speaker
	// at rest on 10 nodes used 2.6 % of a core with it and 2.3 % without.
	// Receivers take either form, MetalLB's speakers too.
	c.EnableCompression = false
	ml, err := memberlist.Create(c)
	if err != nil {
		_ = c.Transport.Shutdown()
		return fmt.Errorf("starting memberlist on %s: %w", bindAddress(c.BindAddr, o.BindPort), err)
	}
	m.mu.Lock()
	m.ml, m.tr = ml, tr
	m.mu.Unlock()
	close(m.started)
	<-ctx.Done()
	m.mu.Lock()
	crashed := m.crashed
	m.mu.Unlock()
	if !crashed {
		// Say so first: memberlist's own goodbye looks the same to the
		// others as a death, which they would first check (see Reach).
		m.mu.Lock()
		m.leaving = true
		m.mu.Unlock()
		if err := ml.UpdateNode(leavingNoticeRounds * o.GossipInterval); err != nil {
			o.Log.V(1).Info("telling the others this member is leaving", "reason", err.Error())
		}
		if err := ml.Leave(time.Second); err != nil {
			o.Log.Error(err, "leaving memberlist")
		}
	}
	return ml.Shutdown()
}

// Join contacts the given peers ("host:port"); it returns how many answered.
// Joining exchanges full state with a peer, so when it returns every live
// member is known.
func (m *Members) Join(peers []string) (int, error) {
	if len(peers) == 0 {
		return 0, nil
	}
	<-m.started
	m.mu.Lock()
	ml := m.ml
	m.mu.Unlock()
	return ml.Join(peers)
}

// Nudge exchanges full state with the member at addr ("host:port"), as a
// join does: a member declared dead that is still running learns of it
// and refutes. It blocks at most the TCP timeout.
func (m *Members) Nudge(addr string) error {
	_, err := m.Join([]string{addr})
	return err
}

// Reach is Reach with this member's ReachTimeout.
func (m *Members) Reach(ctx context.Context, addr string) Reachability {
	return Reach(ctx, addr, m.reachTimeout())
}

// ReachStrict is Reach believing a node silent only after one fair
// silence more (strictSilences), for the checks that meet loss often:
//   - one begun at the watch's first missed ping, before the silence is
//     confirmed. It runs beside the missed ping's retry and ends 25 ms
//     after its timeout. Begun after the silence was confirmed, a check of
//     a live member under loss was often overtaken by the member's answer
//     to the next ping, which cancelled it; begun early it is not, and
//     with two silences the simulation's false takeovers at 5 % loss
//     tripled (with three they halve).
//   - a held member's rechecks, every 50 ms until it answers a ping: at
//     5 % loss, one in a hundred two-silence rechecks took a live member
//     for gone, and in the simulation those were most false takeovers.
func (m *Members) ReachStrict(ctx context.Context, addr string) Reachability {
	return dialReach(ctx, addr, m.reachTimeout(), strictSilences)
}

func (m *Members) reachTimeout() time.Duration {
	if m.opts.ReachTimeout == 0 {
		return DefaultReachTimeout
	}
	return m.opts.ReachTimeout
}

// Reachability is what a connection to a member's memberlist port says
// about a member declared dead.
type Reachability int

const (
	// Unreachable: no answer within the timeout; the node or its link
	// is down.
	Unreachable Reachability = iota
	// Refused: the node's kernel answered, but nothing listens: the
	// speaker is gone.
	Refused
	// Listening: its socket accepts connections, so the process exists:
	// stalled (starved of CPU) or frozen, not dead, and its node, which
	// forwards the VIP's traffic in the kernel, is up.
	Listening
	// Unheard: no answer, but this process stood still through every
	// wait, so an answer may have come unnoticed: the silence says
	// nothing.
	Unheard
)

// Gone reports whether the member's speaker is gone: refused, or its node
// silent while this process was awake to hear it.
func (r Reachability) Gone() bool { return r == Unreachable || r == Refused }

func (r Reachability) String() string {
	switch r {
	case Refused:
		return "refused"
	case Listening:
		return "listening"
	case Unheard:
		return "unheard"
	default:
		return "unreachable"
	}
}

// DefaultReachTimeout bounds Reach: a live kernel on the LAN answers a
// connection within a millisecond even while its processes starve, and
// every real failover waits this long more for the answer that does not
// come.
const DefaultReachTimeout = 25 * time.Millisecond

// Reach connects to a member's memberlist address ("host:port") and says
// whether its process still exists. The kernel completes the handshake
// for a listening socket whatever its process is doing, so a speaker
// starved of CPU is told from a dead one, or from a dead node, in one
// round trip.
func Reach(ctx context.Context, addr string, timeout time.Duration) Reachability {
	return dialReach(ctx, addr, timeout, fairSilences)
}

// dialReach is reach over TCP on the process's clock, wanting this many
// fair silences.
func dialReach(ctx context.Context, addr string, timeout time.Duration, silences int) Reachability {
	d := net.Dialer{Timeout: timeout}
	return reach(ctx, addr, timeout, silences, d.DialContext, time.Now)
}

// spareAttempts is how many connections one Reach makes beyond the fair
// silences it needs: it bounds silences it does not believe (this process
// stood still) and fair ones alike.
const spareAttempts = 2

// fairSilences is how many fair silences make a member Unreachable. One is
// not enough: on a machine whose kernel is itself busy (every node of a
// lab shares one, and pods starting keep it busy), a live node's handshake
// has come later than the timeout once while other speakers' checks of the
// same member at the same moment were answered; believing that single
// silence took a live member's VIPs over (the migration e2e saw it). A
// second wait costs a dead node's failover one timeout more.
const fairSilences = 2

// strictSilences is fairSilences for ReachStrict: a live member's three
// handshakes in a row are lost far more rarely than two.
const strictSilences = fairSilences + 1

// reach is Reach with the dialler and the clock injected. A timeout is
// believed only when the wait took about as long as it should: one that
// took half as long again or more means this process (or the whole
// machine) stood still meanwhile, and the answer may have been missed
// (Go's runtime may fire the dial's deadline before it looks at the
// socket that became ready), so it asks again; when it never heard
// silences fair silences within silences+spareAttempts connections, the
// member is Unheard.
// On a machine starved of CPU, a check that believed such silences would
// take live members' VIPs over.
func reach(ctx context.Context, addr string, timeout time.Duration, silences int, dial func(ctx context.Context, network, addr string) (net.Conn, error), now func() time.Time) Reachability {
	fair := 0
	for attempt := 1; ; attempt++ {
		start := now()
		c, err := dial(ctx, "tcp", addr)
		switch {
		case err == nil:
			_ = c.Close()
			return Listening
		case errors.Is(err, syscall.ECONNREFUSED):
			return Refused
		case ctx.Err() != nil:
			return Unreachable
		case now().Sub(start) < timeout*3/2:
			if fair++; fair == silences {
				return Unreachable
			}
		}
		if attempt == silences+spareAttempts {
			return Unheard
		}
	}
}

// MarkSettled records that every speaker expected is a member (or that
// there is none): the speaker may announce.
func (m *Members) MarkSettled() { m.settle.Do(func() { close(m.settled) }) }

// Settled is closed by MarkSettled.
func (m *Members) Settled() <-chan struct{} { return m.settled }

// Witnesses returns the other live members' memberlist addresses, by
// node.
func (m *Members) Witnesses() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for n := range m.alive {
		if n != m.opts.NodeName && m.addrOf[n] != "" {
			out[n] = m.addrOf[n]
		}
	}
	return out
}

// Alive returns the live members, sorted, this one included.
func (m *Members) Alive() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.alive))
	for n := range m.alive {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Next returns the membership changes since the last call, waiting until
// there is one or ctx ends.
func (m *Members) Next(ctx context.Context) ([]Event, error) {
	for {
		m.mu.Lock()
		if len(m.queue) > 0 {
			evs := m.queue
			m.queue = nil
			m.mu.Unlock()
			return evs, nil
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.notify:
		}
	}
}

// eventDelegate receives memberlist's callbacks, which run under its locks:
// they only append to the queue, never block.
type eventDelegate Members

func (d *eventDelegate) push(kind EventKind, n *memberlist.Node) {
	m := (*Members)(d)
	e := Event{Kind: kind, Node: n.Name, At: time.Now(), Addr: n.Address()}
	m.mu.Lock()
	if kind == Joined {
		m.alive[n.Name] = true
		m.echoes[n.Name] = string(n.Meta) == echoMeta
		if old, ok := m.addrOf[n.Name]; ok {
			delete(m.heardAt, old)
		}
		m.addrOf[n.Name] = e.Addr
		m.heardAt[e.Addr] = time.Time{} // what came before the join was another life
	} else {
		delete(m.alive, n.Name)
		e.LastContact = m.lastContactLocked(n.Name)
		// memberlist hands over the node as last gossiped: a member that
		// announced its leave carries the notice in its metadata.
		e.Graceful = string(n.Meta) == leavingMeta
		delete(m.acked, n.Name)
		delete(m.echoes, n.Name)
	}
	m.queue = append(m.queue, e)
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

func (d *eventDelegate) NotifyJoin(n *memberlist.Node)  { d.push(Joined, n) }
func (d *eventDelegate) NotifyLeave(n *memberlist.Node) { d.push(Left, n) }

// NotifyUpdate follows a member's metadata: whether it answers echoes.
func (d *eventDelegate) NotifyUpdate(n *memberlist.Node) {
	m := (*Members)(d)
	m.mu.Lock()
	if m.alive[n.Name] {
		m.echoes[n.Name] = string(n.Meta) == echoMeta
	}
	m.mu.Unlock()
}

// lastContactLocked is when this member last heard from the node: a
// packet of it, or an answer to a probe. Caller holds mu.
func (m *Members) lastContactLocked(node string) time.Time {
	last := m.acked[node]
	if heard := m.heardAt[m.addrOf[node]]; heard.After(last) {
		last = heard
	}
	return last
}

// LastContact is when this member last heard from the live member node:
// a packet of it, or an answer to a probe; zero when none since it joined.
func (m *Members) LastContact(node string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastContactLocked(node)
}

// errNotAlive: Ping was asked about a node memberlist does not hold alive.
var errNotAlive = errors.New("members: not a live member")

// Ping asks the live member node directly whether it is alive and returns
// the round trip of its answer within the probe timeout, or an error: an
// echo (echo.go) when the member answers them, else a memberlist ping.
// Unlike memberlist's own probes it names its target, so a node can watch
// the members whose VIPs it would take over (loop.Watcher).
func (m *Members) Ping(node string) (time.Duration, error) {
	m.mu.Lock()
	ml, tr, addr, alive, echoes := m.ml, m.tr, m.addrOf[node], m.alive[node], m.echoes[node]
	m.mu.Unlock()
	if ml == nil || !alive {
		return 0, fmt.Errorf("pinging %s: %w", node, errNotAlive)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, fmt.Errorf("pinging %s at %q: %w", node, addr, err)
	}
	if echoes {
		return tr.echo(node, ap, m.opts.ProbeTimeout)
	}
	return ml.Ping(node, net.UDPAddrFromAddrPort(ap))
}

// heard records when a packet from the memberlist address from arrived
// (transport): the last contact before a failure, from which the
// takeover's detection phase is measured.
func (m *Members) heard(from string, at time.Time) {
	m.mu.Lock()
	if _, member := m.heardAt[from]; member {
		m.heardAt[from] = at
	}
	m.mu.Unlock()
}

// NotifyPingComplete records when a probe of a node was answered, also a
// contact (heard covers its answer already, unless it came over TCP).
func (d *eventDelegate) NotifyPingComplete(n *memberlist.Node, _ time.Duration, _ []byte) {
	m := (*Members)(d)
	m.mu.Lock()
	if m.alive[n.Name] {
		m.acked[n.Name] = time.Now()
	}
	m.mu.Unlock()
}

// AckPayload adds nothing to this member's acks.
func (d *eventDelegate) AckPayload() []byte { return nil }

// leavingMeta is a member's metadata once it is leaving; echoMeta before.
const leavingMeta = "leaving"

// leavingNoticeRounds bounds the wait for the leaving notice to be
// gossiped, in gossip rounds: the goodbye that follows it replaces it in
// memberlist's queue, so it must have gone out at least once (to
// GossipNodes members, who pass it on) or the others would take the
// goodbye for a death and check it first.
const leavingNoticeRounds = 2

// metaDelegate gives memberlist this member's metadata; it carries no
// messages or state of its own.
type metaDelegate Members

func (d *metaDelegate) NodeMeta(int) []byte {
	m := (*Members)(d)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaving {
		return []byte(leavingMeta)
	}
	return []byte(echoMeta)
}
func (d *metaDelegate) NotifyMsg([]byte)                {}
func (d *metaDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *metaDelegate) LocalState(bool) []byte          { return nil }
func (d *metaDelegate) MergeRemoteState([]byte, bool)   {}

// logWriter routes memberlist's log lines into logr.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info(string(trimNewline(p)), "component", "memberlist")
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = logWriter{}
