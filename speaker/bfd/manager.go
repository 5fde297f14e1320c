package bfd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"k8s.io/utils/clock"
)

// Ports and the TTL of RFC 5881 (single hop) and RFC 5883 (multihop).
const (
	PortSingleHop = 3784
	PortMultihop  = 4784
	// sendTTL: every packet leaves with TTL (hop limit) 255, so that a
	// single-hop receiver can tell it crossed no router (RFC 5881 §5).
	sendTTL = 255
	// firstSourcePort..lastSourcePort is where each session's source port
	// is chosen (RFC 5881 §4).
	firstSourcePort = 49152
	lastSourcePort  = 65535
)

// Peer is one session's endpoints.
type Peer struct {
	Local, Remote netip.Addr
	// Multihop: RFC 5883 (port 4784, any TTL down to MinTTL) instead of
	// RFC 5881 (port 3784, TTL exactly 255).
	Multihop bool
	// MinTTL is the lowest TTL a multihop session accepts (minimumTtl).
	MinTTL uint8
}

func (p Peer) String() string {
	kind := "single hop"
	if p.Multihop {
		kind = "multihop"
	}
	return fmt.Sprintf("%s→%s (%s)", p.Local, p.Remote, kind)
}

// Event is a session's change of state.
type Event struct {
	Peer Peer
	Transition
	At time.Time
}

// Sockets opens the Manager's sockets; tests open them in a network
// namespace.
type Sockets interface {
	ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error)
	DialUDP(network string, laddr, raddr *net.UDPAddr) (*net.UDPConn, error)
}

type hostSockets struct{}

func (hostSockets) ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	return net.ListenUDP(network, laddr)
}

func (hostSockets) DialUDP(network string, laddr, raddr *net.UDPAddr) (*net.UDPConn, error) {
	return net.DialUDP(network, laddr, raddr)
}

// Metrics receives what the sessions do, by the peer's address;
// *metrics.Speaker implements it with MetalLB's metallb_bfd_* names.
type Metrics interface {
	// BFDSession is a session's state; changed when it became so now.
	BFDSession(peer string, up, changed bool)
	BFDControlPacket(peer string, sent bool)
	BFDPeerRemoved(peer string)
}

type noMetrics struct{}

func (noMetrics) BFDSession(string, bool, bool) {}
func (noMetrics) BFDControlPacket(string, bool) {}
func (noMetrics) BFDPeerRemoved(string)         {}

// Manager runs BFD sessions: one receiving socket per family and port,
// shared by the sessions and opened when the first needs it, and per
// session a sending socket and a goroutine that owns its Session.
type Manager struct {
	Log   logr.Logger
	Clock clock.WithTicker
	// OnEvent is told every change of a session's state, from the
	// session's goroutine.
	OnEvent func(Event)
	Sockets Sockets
	Metrics Metrics
	// Ports, when not zero, replace 3784 and 4784 (tests).
	SingleHopPort, MultihopPort int

	mu        sync.Mutex
	ctx       context.Context // Run's; nil before it
	pending   map[Peer]Config // what Set asked for before Run
	wg        sync.WaitGroup
	sessions  map[Peer]*runner
	byDiscr   map[uint32]*runner
	lastDiscr uint32
	listeners map[listenKey]*net.UDPConn
}

type listenKey struct {
	v6, multihop bool
}

// Run serves the sessions Set asks for until ctx ends, then stops them
// all and closes every socket.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.Clock == nil {
		m.Clock = clock.RealClock{}
	}
	if m.Sockets == nil {
		m.Sockets = hostSockets{}
	}
	if m.Metrics == nil {
		m.Metrics = noMetrics{}
	}
	if m.SingleHopPort == 0 {
		m.SingleHopPort = PortSingleHop
	}
	if m.MultihopPort == 0 {
		m.MultihopPort = PortMultihop
	}
	m.ctx = ctx
	m.sessions, m.byDiscr, m.listeners = map[Peer]*runner{}, map[uint32]*runner{}, map[listenKey]*net.UDPConn{}
	err := m.apply(m.pending)
	m.pending = nil
	m.mu.Unlock()
	if err != nil {
		m.Log.Error(err, "starting BFD sessions")
	}
	<-ctx.Done()
	m.mu.Lock()
	for _, c := range m.listeners {
		_ = c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Set makes the running sessions those of peers, with their
// configurations: new peers get a session, gone ones are stopped (after
// telling the remote system AdminDown), and a changed configuration is
// polled to the remote system without dropping the session. Before Run,
// the peers wait for it; a session that cannot start (its socket) is an
// error, the others run.
func (m *Manager) Set(peers map[Peer]Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		m.pending = peers
		return nil
	}
	return m.apply(peers)
}

// apply is Set once Run has begun. Caller holds mu.
func (m *Manager) apply(peers map[Peer]Config) error {
	var errs []error
	for p, r := range m.sessions {
		if _, keep := peers[p]; !keep {
			r.stop()
			delete(m.sessions, p)
			delete(m.byDiscr, r.discr)
			m.Metrics.BFDPeerRemoved(p.Remote.String())
		}
	}
	for p, cfg := range peers {
		if r, ok := m.sessions[p]; ok {
			r.setConfig(cfg)
			continue
		}
		if err := m.start(p, cfg); err != nil {
			errs = append(errs, &PeerError{Peer: p, Err: err})
		}
	}
	return errors.Join(errs...)
}

// PeerError is why one session could not start.
type PeerError struct {
	Peer Peer
	Err  error
}

func (e *PeerError) Error() string { return fmt.Sprintf("BFD session %s: %v", e.Peer, e.Err) }
func (e *PeerError) Unwrap() error { return e.Err }

// PeerErrors are the PeerErrors err joins.
func PeerErrors(err error) []*PeerError {
	var out []*PeerError
	var walk func(error)
	walk = func(e error) {
		if pe, ok := e.(*PeerError); ok {
			out = append(out, pe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// start opens what a new session needs and runs it. Caller holds mu.
func (m *Manager) start(p Peer, cfg Config) error {
	if !p.Local.IsValid() || !p.Remote.IsValid() || p.Local.Is4() != p.Remote.Is4() {
		return fmt.Errorf("local %s and remote %s must be addresses of one family", p.Local, p.Remote)
	}
	if err := m.listen(listenKey{v6: p.Remote.Is6(), multihop: p.Multihop}); err != nil {
		return err
	}
	port := m.SingleHopPort
	if p.Multihop {
		port = m.MultihopPort
	}
	conn, err := m.dial(p, port)
	if err != nil {
		return err
	}
	m.lastDiscr++
	if m.lastDiscr == 0 {
		m.lastDiscr = 1
	}
	for m.byDiscr[m.lastDiscr] != nil {
		m.lastDiscr++
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := &runner{
		m: m, peer: p, discr: m.lastDiscr, s: NewSession(cfg, m.lastDiscr), conn: conn,
		rx: make(chan ControlPacket, 16), cfg: make(chan Config, 1), cancel: cancel,
		log: m.Log.WithValues("peer", p.Remote.String(), "local", p.Local.String(), "multihop", p.Multihop),
	}
	m.sessions[p], m.byDiscr[r.discr] = r, r
	m.Metrics.BFDSession(p.Remote.String(), false, false)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run(ctx)
	}()
	return nil
}

// dial opens the session's sending socket from a free source port, with
// TTL 255.
func (m *Manager) dial(p Peer, port int) (*net.UDPConn, error) {
	network := "udp4"
	if p.Remote.Is6() {
		network = "udp6"
	}
	raddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Remote, uint16(port)))
	start := firstSourcePort + rand.IntN(lastSourcePort-firstSourcePort+1)
	var lastErr error
	for i := range 64 {
		sport := firstSourcePort + (start-firstSourcePort+i*97)%(lastSourcePort-firstSourcePort+1)
		laddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Local, uint16(sport)))
		c, err := m.Sockets.DialUDP(network, laddr, raddr)
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, fmt.Errorf("%s is not an address of this node", p.Local)
		}
		if err != nil {
			lastErr = err
			continue
		}
		if p.Remote.Is6() {
			err = ipv6.NewConn(c).SetHopLimit(sendTTL)
		} else {
			err = ipv4.NewConn(c).SetTTL(sendTTL)
		}
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("setting TTL %d: %w", sendTTL, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("no source port free from %s: %w", p.Local, lastErr)
}

// listen opens the receiving socket of k once. Caller holds mu.
func (m *Manager) listen(k listenKey) error {
	if m.listeners[k] != nil {
		return nil
	}
	network, ip := "udp4", net.IPv4zero
	if k.v6 {
		network, ip = "udp6", net.IPv6unspecified
	}
	port := m.SingleHopPort
	if k.multihop {
		port = m.MultihopPort
	}
	c, err := m.Sockets.ListenUDP(network, &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		return fmt.Errorf("listening on %s port %d: %w", network, port, err)
	}
	// The TTL and the destination of each packet, for the TTL check and
	// to find a session not yet told our discriminator. The PacketConn
	// that asked is the one that reads: it remembers what to parse.
	var (
		v4 *ipv4.PacketConn
		v6 *ipv6.PacketConn
	)
	if k.v6 {
		v6 = ipv6.NewPacketConn(c)
		err = v6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true)
	} else {
		v4 = ipv4.NewPacketConn(c)
		err = v4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst, true)
	}
	if err != nil {
		_ = c.Close()
		return fmt.Errorf("asking for TTL and destination on %s port %d: %w", network, port, err)
	}
	m.listeners[k] = c
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.receive(v4, v6, k)
	}()
	return nil
}

// receive reads one listening socket until it is closed and hands each
// valid packet to its session.
// One of v4 and v6 is set.
func (m *Manager) receive(v4 *ipv4.PacketConn, v6 *ipv6.PacketConn, k listenKey) {
	buf := make([]byte, 1500)
	for {
		var (
			n        int
			src      net.Addr
			dst      netip.Addr
			ttl      int
			err      error
			haveMeta bool
		)
		if v6 != nil {
			var cm *ipv6.ControlMessage
			n, cm, src, err = v6.ReadFrom(buf)
			if cm != nil {
				dst, _ = netip.AddrFromSlice(cm.Dst)
				ttl, haveMeta = cm.HopLimit, true
			}
		} else {
			var cm *ipv4.ControlMessage
			n, cm, src, err = v4.ReadFrom(buf)
			if cm != nil {
				dst, _ = netip.AddrFromSlice(cm.Dst)
				ttl, haveMeta = cm.TTL, true
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.Log.V(1).Info("reading a BFD packet", "reason", err.Error())
			continue
		}
		from, ok := src.(*net.UDPAddr)
		if !ok || !haveMeta {
			continue
		}
		remote := from.AddrPort().Addr().Unmap()
		p, err := ParseControlPacket(buf[:n])
		if err != nil {
			m.Log.V(1).Info("discarding a BFD packet", "from", remote.String(), "reason", err.Error())
			continue
		}
		m.deliver(p, remote, dst.Unmap(), ttl, k.multihop)
	}
}

// deliver finds the packet's session (by our discriminator, or by its
// addresses while the remote system does not know it yet), checks the TTL
// and queues it.
func (m *Manager) deliver(p ControlPacket, remote, local netip.Addr, ttl int, multihop bool) {
	m.mu.Lock()
	var r *runner
	if p.YourDiscr != 0 {
		r = m.byDiscr[p.YourDiscr]
	} else {
		for peer, s := range m.sessions {
			// The destination the kernel reports carries no zone; a
			// link-local session's Local does.
			if peer.Remote == remote && peer.Multihop == multihop && (!local.IsValid() || peer.Local.WithZone("") == local) {
				r = s
				break
			}
		}
	}
	m.mu.Unlock()
	if r == nil || r.peer.Remote != remote || r.peer.Multihop != multihop {
		m.Log.V(1).Info("discarding a BFD packet of no session", "from", remote.String(), "yourDiscriminator", p.YourDiscr)
		return
	}
	if (!multihop && ttl != sendTTL) || (multihop && ttl < int(r.peer.MinTTL)) {
		r.log.V(1).Info("discarding a BFD packet with a TTL too low", "ttl", ttl)
		return
	}
	select {
	case r.rx <- p:
	default:
		r.log.V(1).Info("discarding a BFD packet: the session is behind")
	}
}

// runner is one session's goroutine and sending socket.
type runner struct {
	m      *Manager
	peer   Peer
	discr  uint32
	s      *Session
	conn   *net.UDPConn
	rx     chan ControlPacket
	cfg    chan Config
	cancel context.CancelFunc
	log    logr.Logger
}

func (r *runner) stop() {
	r.cancel()
}

func (r *runner) setConfig(c Config) {
	select {
	case <-r.cfg:
	default:
	}
	r.cfg <- c
}

func (r *runner) run(ctx context.Context) {
	defer r.conn.Close()
	clk := r.m.Clock
	tx := clk.NewTimer(r.nextTx())
	defer tx.Stop()
	detect := clk.NewTimer(time.Hour)
	defer detect.Stop()
	r.armDetect(detect)
	for {
		before, sending := r.s.TxInterval()
		select {
		case <-ctx.Done():
			r.sendAdminDown()
			return
		case p := <-r.rx:
			t, final, err := r.s.Receive(p, clk.Now())
			if err != nil {
				continue
			}
			r.m.Metrics.BFDControlPacket(r.peer.Remote.String(), false)
			if final {
				r.send(r.s.Packet(true))
			}
			r.report(t)
			r.armDetect(detect)
		case <-tx.C():
			if _, ok := r.s.TxInterval(); ok {
				r.send(r.s.Packet(false))
			}
			tx.Reset(r.nextTx())
			continue
		case <-detect.C():
			r.report(r.s.Expire(clk.Now()))
			r.armDetect(detect)
		case c := <-r.cfg:
			r.s.SetConfig(c)
		}
		// A shorter interval (the session came Up, the remote system
		// accepts faster) holds from now: the remote system's detection
		// time shrinks with the packet that announced it, so waiting out
		// the old, slower interval would let it time us out. Send now and
		// go on at the new pace; so too when sending has just become
		// allowed (a passive session spoken to).
		if after, ok := r.s.TxInterval(); ok && (!sending || after < before) {
			r.send(r.s.Packet(false))
			if !tx.Stop() {
				select {
				case <-tx.C():
				default:
				}
			}
			tx.Reset(r.nextTx())
		}
	}
}

// nextTx is the jittered wait before the next periodic packet; a second
// when nothing is to be sent, to look again.
func (r *runner) nextTx() time.Duration {
	iv, ok := r.s.TxInterval()
	if !ok {
		return SlowTx
	}
	lo, hi := r.s.Jitter()
	return time.Duration(float64(iv) * (lo + rand.Float64()*(hi-lo)))
}

func (r *runner) armDetect(t clock.Timer) {
	if !t.Stop() {
		select {
		case <-t.C():
		default:
		}
	}
	if deadline, ok := r.s.DetectDeadline(); ok {
		t.Reset(deadline.Sub(r.m.Clock.Now()))
		return
	}
	t.Reset(time.Hour)
}

func (r *runner) report(t Transition) {
	if !t.Changed() {
		return
	}
	r.log.Info("BFD session changed state", "from", t.From.String(), "to", t.To.String(), "diagnostic", t.Diag.String(),
		"remoteAdminDown", t.RemoteAdminDown)
	if t.From == StateUp || t.To == StateUp {
		r.m.Metrics.BFDSession(r.peer.Remote.String(), t.To == StateUp, true)
	}
	if r.m.OnEvent != nil {
		r.m.OnEvent(Event{Peer: r.peer, Transition: t, At: r.m.Clock.Now()})
	}
}

func (r *runner) send(p ControlPacket) {
	if _, err := r.conn.Write(p.Marshal()); err != nil {
		r.log.V(1).Info("sending a BFD packet", "reason", err.Error())
		return
	}
	r.m.Metrics.BFDControlPacket(r.peer.Remote.String(), true)
}

// sendAdminDown tells the remote system the session was taken down on
// purpose (RFC 5880 §6.8.16), so it does not take it for a failure.
func (r *runner) sendAdminDown() {
	if r.s.remote == 0 {
		return
	}
	r.s.AdminDown()
	r.send(r.s.Packet(false))
}
