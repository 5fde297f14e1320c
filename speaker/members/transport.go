package members

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
)

// transport carries memberlist over UDP and TCP on one address and port,
// as memberlist's own NetTransport does, with what a speaker at rest
// needs from it:
//   - a packet is read into one reused buffer and handed on as a copy of
//     its own size. NetTransport reads each into a fresh 64 KiB buffer:
//     at 40 packets a second that was most of a speaker's garbage and
//     its collections a quarter of its CPU at rest;
//   - its arrival is stamped (heard) by the reading goroutine itself,
//     which hands it to memberlist directly. Any packet from a member is
//     a sign of life (its probes of this node, its answers, its gossip,
//     the probes it forwards), and the last one heard before a member is
//     declared dead is the best local bound on when it failed;
//   - it asks and answers the watch's echoes (echo.go) itself.
type transport struct {
	log     logr.Logger
	udp     *net.UDPConn
	tcp     *net.TCPListener
	heard   func(from string, at time.Time)
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	closing atomic.Bool
	stopped sync.WaitGroup

	// name is this member's, which an echo request must name. Echoes
	// are authenticated by readMAC in the reading goroutine and by
	// askMAC, under mu, for the askers.
	name    string
	readMAC *echoMACer
	nonce   atomic.Uint64
	mu      sync.Mutex
	askMAC  *echoMACer
	waiting map[uint64]chan time.Time // echo nonce → its asker
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// maxPacket is the largest UDP payload.
const maxPacket = 65536

// recvBuffer is the UDP receive buffer asked for (the kernel caps it at
// net.core.rmem_max), as NetTransport asks: a burst of gossip while the
// reader is descheduled must not be dropped.
const recvBuffer = 2 << 20

// newTransport listens on addr:port, TCP and UDP (port 0: a free port for
// both), and calls heard, from its reading goroutine, for every packet
// before memberlist sees it. It answers the echoes that name this member
// (name) and carry the MAC of secret, the memberlist key.
func newTransport(addr string, port int, name string, secret []byte, heard func(from string, at time.Time), log logr.Logger) (*transport, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("memberlist address %q: %w", addr, err)
	}
	var tcp *net.TCPListener
	var udp *net.UDPConn
	for range 10 {
		tcp, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return nil, fmt.Errorf("memberlist TCP listener: %w", err)
		}
		bound := tcp.Addr().(*net.TCPAddr).AddrPort().Port()
		udp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, bound)))
		if err == nil || port != 0 {
			break
		}
		// The free TCP port is taken for UDP: try another.
		_ = tcp.Close()
	}
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("memberlist UDP listener: %w", err)
	}
	for size := recvBuffer; size > 0; size /= 2 {
		if udp.SetReadBuffer(size) == nil {
			break
		}
	}
	t := &transport{log: log, udp: udp, tcp: tcp, heard: heard,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), done: make(chan struct{}),
		name: name, readMAC: newEchoMACer(echoKey(secret)), askMAC: newEchoMACer(echoKey(secret)), waiting: map[uint64]chan time.Time{}}
	t.nonce.Store(rand.Uint64())
	t.stopped.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

// port is where the transport listens.
func (t *transport) port() int { return t.udp.LocalAddr().(*net.UDPAddr).Port }

func (t *transport) readPackets() {
	defer t.stopped.Done()
	buf := make([]byte, maxPacket)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		at := time.Now()
		if err != nil {
			if t.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.V(1).Info("reading a memberlist packet", "reason", err.Error())
			continue
		}
		if n < 1 {
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if isEcho(buf[:n]) {
			t.handleEcho(buf[:n], from, at)
			continue
		}
		addr := net.UDPAddrFromAddrPort(from)
		t.heard(addr.String(), at)
		own := make([]byte, n)
		copy(own, buf)
		p := &memberlist.Packet{Buf: own, From: addr, Timestamp: at}
		select {
		case t.packets <- p:
		case <-t.done:
			return
		}
	}
}

// handleEcho answers a request for this member at once, from the reading
// goroutine, and hands an answer to its asker; a valid one of either is
// the sender's sign of life (heard), even an answer come too late for its
// asker. Anything else is dropped: an echo is never memberlist's.
func (t *transport) handleEcho(p []byte, from netip.AddrPort, at time.Time) {
	if p[0] == echoRequest {
		nonce, err := parseEchoRequest(p, t.readMAC, t.name)
		if err != nil {
			t.log.V(1).Info("dropping an echo request", "from", from.String(), "reason", err.Error())
			return
		}
		t.heard(from.String(), at)
		var b [1 + echoNonceLen + echoMACLen]byte
		if _, err := t.udp.WriteToUDPAddrPort(appendEchoAnswer(b[:0], t.readMAC, nonce), from); err != nil {
			t.log.V(1).Info("answering an echo", "to", from.String(), "reason", err.Error())
		}
		return
	}
	nonce, err := parseEchoAnswer(p, t.readMAC)
	if err != nil {
		t.log.V(1).Info("dropping an echo answer", "from", from.String(), "reason", err.Error())
		return
	}
	t.heard(from.String(), at)
	t.mu.Lock()
	ch := t.waiting[nonce]
	t.mu.Unlock()
	if ch != nil {
		select {
		case ch <- at:
		default:
		}
	}
}

// errEchoTimeout: no answer to an echo within its timeout.
var errEchoTimeout = errors.New("members: no answer to the echo")

// echo asks member name at addr whether it is alive and returns the round
// trip, or errEchoTimeout after timeout.
func (t *transport) echo(name string, addr netip.AddrPort, timeout time.Duration) (time.Duration, error) {
	nonce := t.nonce.Add(1)
	answered := make(chan time.Time, 1)
	t.mu.Lock()
	t.waiting[nonce] = answered
	b := appendEchoRequest(make([]byte, 0, 2+len(name)+echoNonceLen+echoMACLen), t.askMAC, name, nonce)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.waiting, nonce)
		t.mu.Unlock()
	}()
	sent := time.Now()
	if _, err := t.udp.WriteToUDPAddrPort(b, addr); err != nil {
		return 0, fmt.Errorf("echo to %s: %w", name, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case at := <-answered:
		return at.Sub(sent), nil
	case <-timer.C:
		return 0, fmt.Errorf("echo to %s at %s: %w", name, addr, errEchoTimeout)
	}
}

func (t *transport) acceptStreams() {
	defer t.stopped.Done()
	var backoff time.Duration
	for {
		c, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as
			// NetTransport does, instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Info("accepting a memberlist connection", "reason", err.Error(), "retryIn", backoff)
			select {
			case <-time.After(backoff):
			case <-t.done:
				return
			}
			continue
		}
		backoff = 0
		select {
		case t.streams <- c:
		case <-t.done:
			_ = c.Close()
			return
		}
	}
}

// FinalAdvertiseAddr is the address given: a speaker always names the
// address it binds to (--ml-bindaddr), which is the one it advertises.
func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.IsUnspecified() {
		return nil, 0, fmt.Errorf("memberlist needs the address to advertise to the other members, got %q", ip)
	}
	if port == 0 {
		port = t.port()
	}
	return net.IP(a.AsSlice()), port, nil
}

// WriteTo sends one packet to addr ("host:port").
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		ua, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return time.Time{}, rerr
		}
		ap = ua.AddrPort()
	}
	_, err = t.udp.WriteToUDPAddrPort(b, ap)
	return time.Now(), err
}

// WriteToAddress sends one packet to a's address.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh is where memberlist reads the packets, once stamped.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout opens a stream to addr.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout opens a stream to a's address.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh is where memberlist takes the accepted streams.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes both sockets and waits for their goroutines.
func (t *transport) Shutdown() error {
	if t.closing.Swap(true) {
		return nil
	}
	close(t.done)
	err := errors.Join(t.tcp.Close(), t.udp.Close())
	t.stopped.Wait()
	return err
}

// bindAddress is addr:port for error messages.
func bindAddress(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }
