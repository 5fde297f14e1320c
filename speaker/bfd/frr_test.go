//go:build e2e

package bfd

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/ironlb/ironlb/test/frr"
	"github.com/ironlb/ironlb/test/netns"
)

// nsSockets opens the Manager's sockets in a test's network namespace.
type nsSockets struct{ ns string }

func (s nsSockets) ListenUDP(network string, laddr *net.UDPAddr) (c *net.UDPConn, err error) {
	derr := netns.Do(s.ns, func() error { c, err = net.ListenUDP(network, laddr); return nil })
	if derr != nil {
		return nil, derr
	}
	return c, err
}

func (s nsSockets) DialUDP(network string, laddr, raddr *net.UDPAddr) (c *net.UDPConn, err error) {
	derr := netns.Do(s.ns, func() error { c, err = net.DialUDP(network, laddr, raddr); return nil })
	if derr != nil {
		return nil, derr
	}
	return c, err
}

// countingMetrics counts what the Manager reports.
type countingMetrics struct {
	mu                 sync.Mutex
	in, out, ups, down int
	firstIn, firstOut  time.Time
}

func (c *countingMetrics) BFDSession(_ string, up, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case changed && up:
		c.ups++
	case changed:
		c.down++
	}
}

func (c *countingMetrics) BFDControlPacket(_ string, sent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sent {
		c.out++
		if c.firstOut.IsZero() {
			c.firstOut = time.Now()
		}
	} else {
		c.in++
		if c.firstIn.IsZero() {
			c.firstIn = time.Now()
		}
	}
}

func (c *countingMetrics) BFDPeerRemoved(string) {}

func (c *countingMetrics) get() (in, out, ups, down int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in, c.out, c.ups, c.down
}

// events records a Manager's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// wait returns the first event after since into state, or fails.
func (e *events) wait(t *testing.T, since time.Time, state State, limit time.Duration) Event {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, ev := range e.all {
			if ev.To == state && !ev.At.Before(since) {
				e.mu.Unlock()
				return ev
			}
		}
		e.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no BFD session went %v within %s; events %+v", state, limit, e.all)
	return Event{}
}

// frrPeer polls FRR until its session with peer satisfies ok, and
// returns when it did.
func frrPeer(t *testing.T, r *frr.Router, peer netip.Addr, limit time.Duration, what string, ok func(frr.BFDPeerState) bool) (frr.BFDPeerState, time.Time) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last frr.BFDPeerState
	for time.Now().Before(deadline) {
		peers, err := r.BFDPeers()
		if err == nil {
			last = peers[peer]
			if ok(last) {
				return last, time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("FRR's BFD session with %s: not %s within %s: %+v\n%s", peer, what, limit, last, r.Logs())
	return last, time.Time{}
}

// TestAgainstFRR: a single-hop session with FRR's bfdd (RFC 5881) comes
// Up with each side's intervals, both sides detect a cut link within
// multiplier × the negotiated interval, the session comes back with the
// link, and removing it tells FRR AdminDown.
func TestAgainstFRR(t *testing.T) {
	lab := netns.New(t)
	nodeNS := lab.Host("node", "10.99.0.2/24")
	routerNS := lab.Host("router", "10.99.0.1/24")
	node, router := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
	r := frr.Start(t, routerNS, frr.Config{Name: "bfd", ASN: 64512, RouterID: router,
		BFD: &frr.BFD{Receive: 300, Transmit: 300, Mult: 3, Peers: []frr.BFDPeer{{Address: node, Local: router}}}})

	var evs events
	var counted countingMetrics
	m := &Manager{Metrics: &counted, Log: testr.NewWithOptions(t, testr.Options{Verbosity: 1}), OnEvent: evs.add, Sockets: nsSockets{ns: nodeNS}}
	runManager(t, m)
	peer := Peer{Local: node, Remote: router}
	ours := Config{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond, DetectMult: 3}
	start := time.Now()
	if err := m.Set(map[Peer]Config{peer: ours}); err != nil {
		t.Fatal(err)
	}
	up := evs.wait(t, start, StateUp, 15*time.Second)
	t.Logf("Up %v after Set", up.At.Sub(start).Round(time.Millisecond))
	st, _ := frrPeer(t, r, node, 5*time.Second, "up with our intervals", func(p frr.BFDPeerState) bool {
		return p.Status == "up" && p.RemoteReceiveInterval == 100 && p.RemoteTransmitInterval == 100
	})
	if st.RemoteDetectMultiplier != 3 || st.ReceiveInterval != 300 || st.TransmitInterval != 300 {
		t.Errorf("FRR's view of the session: %+v", st)
	}

	// The link cut: each side must detect within its detection time,
	// 3 × max(300 ms, 100 ms) = 900 ms, timed from the cut.
	cut := time.Now()
	if out, err := lab.Exec(nodeNS, "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatalf("link down: %v\n%s", err, out)
	}
	down := cutDetected(t, &evs, r, node, cut, "link", 900*time.Millisecond, 300*time.Millisecond)
	if down.Diag != DiagDetectTimeExpired {
		t.Errorf("went down with %v, want detection time expired", down.Diag)
	}

	healed := time.Now()
	if out, err := lab.Exec(nodeNS, "ip", "link", "set", "eth0", "up"); err != nil {
		t.Fatalf("link up: %v\n%s", err, out)
	}
	back := evs.wait(t, healed, StateUp, 15*time.Second)
	t.Logf("link up at 0: Up again at %v", back.At.Sub(healed).Round(time.Millisecond))
	frrPeer(t, r, node, 5*time.Second, "up again", func(p frr.BFDPeerState) bool { return p.Status == "up" })

	if in, out, ups, downs := counted.get(); in == 0 || out == 0 || ups != 2 || downs != 1 {
		t.Errorf("metrics: %d packets in, %d out, %d up events, %d down events; want some, some, 2, 1", in, out, ups, downs)
	}

	// Removing the session tells FRR it was on purpose.
	if err := m.Set(nil); err != nil {
		t.Fatal(err)
	}
	frrPeer(t, r, node, 5*time.Second, "down by our AdminDown", func(p frr.BFDPeerState) bool {
		return p.Status == "down" && p.RemoteDiagnostic == "administratively down"
	})
}

// TestMultihopAgainstFRR: a multihop session (RFC 5883, port 4784) with
// FRR's bfdd one routed hop away comes Up with our intervals and FRR's
// minimum TTL, detects the routed link cut within multiplier × the
// negotiated interval on both sides, and comes back with the link. A
// session whose minimum TTL the router's packets cannot meet (they arrive
// with 254 after the hop; we ask for 255) never comes Up.
func TestMultihopAgainstFRR(t *testing.T) {
	lab := netns.New(t)
	nodeNS := lab.Host("node", "10.99.2.2/24")
	hopNS := lab.Host("hop", "10.99.2.1/24")
	routerNS := lab.Stub(hopNS, "eth1", "router", []string{"10.99.3.1/24"}, []string{"10.99.3.2/24"})
	for _, cmd := range [][]string{
		{nodeNS, "ip", "route", "add", "10.99.3.0/24", "via", "10.99.2.1"},
		{routerNS, "ip", "route", "add", "default", "via", "10.99.3.1"},
		{hopNS, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		if out, err := lab.Exec(cmd[0], cmd[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	node, router := netip.MustParseAddr("10.99.2.2"), netip.MustParseAddr("10.99.3.2")
	r := frr.Start(t, routerNS, frr.Config{Name: "bfdm", ASN: 64512, RouterID: router,
		BFD: &frr.BFD{Receive: 200, Transmit: 200, Mult: 3, Peers: []frr.BFDPeer{{Address: node, Local: router, Multihop: true, MinimumTTL: 254}}}})

	var evs events
	m := &Manager{Log: testr.New(t), OnEvent: evs.add, Sockets: nsSockets{ns: nodeNS}}
	runManager(t, m)
	peer := Peer{Local: node, Remote: router, Multihop: true, MinTTL: 254}
	ours := Config{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond, DetectMult: 3}
	start := time.Now()
	if err := m.Set(map[Peer]Config{peer: ours}); err != nil {
		t.Fatal(err)
	}
	up := evs.wait(t, start, StateUp, 15*time.Second)
	t.Logf("multihop: Up %v after Set", up.At.Sub(start).Round(time.Millisecond))
	st, _ := frrPeer(t, r, node, 5*time.Second, "up, multihop, with our intervals", func(p frr.BFDPeerState) bool {
		return p.Status == "up" && p.Multihop && p.RemoteReceiveInterval == 100 && p.RemoteTransmitInterval == 100
	})
	if st.ReceiveInterval != 200 || st.TransmitInterval != 200 {
		t.Errorf("FRR's view of the session: %+v", st)
	}

	// The routed link cut: 3 × max(200 ms, 100 ms) = 600 ms, from the cut.
	cut := time.Now()
	if out, err := lab.Exec(hopNS, "ip", "link", "set", "eth1", "down"); err != nil {
		t.Fatalf("link down: %v\n%s", err, out)
	}
	cutDetected(t, &evs, r, node, cut, "routed link", 600*time.Millisecond, 250*time.Millisecond)
	healed := time.Now()
	if out, err := lab.Exec(hopNS, "ip", "link", "set", "eth1", "up"); err != nil {
		t.Fatalf("link up: %v\n%s", err, out)
	}
	back := evs.wait(t, healed, StateUp, 15*time.Second)
	t.Logf("routed link up at 0: Up again at %v", back.At.Sub(healed).Round(time.Millisecond))

	// Minimum TTL 255: FRR's packets arrive with 254 and are dropped.
	strict := Peer{Local: node, Remote: router, Multihop: true, MinTTL: 255}
	again := time.Now()
	if err := m.Set(map[Peer]Config{strict: ours}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	evs.mu.Lock()
	for _, ev := range evs.all {
		if ev.To == StateUp && ev.At.After(again) {
			t.Errorf("a multihop session with minimum TTL 255 came Up (%+v), though the router is a hop away", ev)
		}
	}
	evs.mu.Unlock()
}

// TestPassiveAgainstFRR: a passive session (passiveMode) sends nothing
// until FRR has spoken, then comes Up with it.
func TestPassiveAgainstFRR(t *testing.T) {
	lab := netns.New(t)
	nodeNS := lab.Host("node", "10.99.1.2/24")
	routerNS := lab.Host("router", "10.99.1.1/24")
	node, router := netip.MustParseAddr("10.99.1.2"), netip.MustParseAddr("10.99.1.1")
	frr.Start(t, routerNS, frr.Config{Name: "bfdp", ASN: 64512, RouterID: router,
		BFD: &frr.BFD{Receive: 300, Transmit: 300, Mult: 3, Peers: []frr.BFDPeer{{Address: node, Local: router}}}})
	var evs events
	var counted countingMetrics
	m := &Manager{Log: testr.New(t), OnEvent: evs.add, Metrics: &counted, Sockets: nsSockets{ns: nodeNS}}
	runManager(t, m)
	start := time.Now()
	cfg := Config{DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond, DetectMult: 3, Passive: true}
	if err := m.Set(map[Peer]Config{{Local: node, Remote: router}: cfg}); err != nil {
		t.Fatal(err)
	}
	up := evs.wait(t, start, StateUp, 15*time.Second)
	counted.mu.Lock()
	firstIn, firstOut := counted.firstIn, counted.firstOut
	counted.mu.Unlock()
	if firstIn.IsZero() || firstOut.Before(firstIn) {
		t.Errorf("the passive session sent its first packet at %v, before it heard FRR at %v", firstOut, firstIn)
	}
	t.Logf("passive: Up %v after Set; first packet heard %v after Set, first sent %v after",
		up.At.Sub(start).Round(time.Millisecond), firstIn.Sub(start).Round(time.Millisecond), firstOut.Sub(start).Round(time.Millisecond))
}

// cutDetected waits until both our session and FRR's went down after a
// link cut at cut, logs when, and checks that each side detected it about
// the detection time after the cut (FRR, polled, within slack and 200 ms
// more). It returns our Down event.
func cutDetected(t *testing.T, evs *events, r *frr.Router, node netip.Addr, cut time.Time, link string, detection, slack time.Duration) Event {
	t.Helper()
	down := evs.wait(t, cut, StateDown, 5*time.Second)
	_, frrDown := frrPeer(t, r, node, 5*time.Second, "down", func(p frr.BFDPeerState) bool { return p.Status == "down" })
	t.Logf("%s cut at 0: we detected at %v, FRR at %v (polled every 20 ms); detection time %v",
		link, down.At.Sub(cut).Round(time.Millisecond), frrDown.Sub(cut).Round(time.Millisecond), detection)
	if d := down.At.Sub(cut); d < detection-slack || d > detection+slack {
		t.Errorf("we detected the cut after %v, want about %v", d, detection)
	}
	if d := frrDown.Sub(cut); d > detection+slack+200*time.Millisecond {
		t.Errorf("FRR detected the cut after %v, want about %v", d, detection)
	}
	return down
}

// runManager runs m until the test ends, and waits for it to stop.
func runManager(t *testing.T, m *Manager) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
}
