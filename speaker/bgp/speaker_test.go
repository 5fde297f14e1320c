package bgp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

const (
	ourASN      = 64500
	externalASN = 64501
)

var (
	std   = config.Community{Standard: 65000<<16 | 1}
	large = config.Community{Large: true, LargeValue: [3]uint32{1, 2, 3}}
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// lab is a speaker with an iBGP router "ibgp" and an eBGP router "ebgp".
type lab struct {
	lo         loopback
	ibgp, ebgp *router
	speaker    *Speaker
	metrics    *fakeMetrics
	mu         sync.Mutex
	changes    []string
}

func newLab(t *testing.T, o Options) *lab {
	l := &lab{lo: newLoopback(t), metrics: newFakeMetrics()}
	l.ibgp = newRouter(t, ourASN, "10.255.0.2", l.lo.port, l.lo.addr(2))
	l.ebgp = newRouter(t, externalASN, "10.255.0.3", l.lo.port, l.lo.addr(3))
	o.Metrics = l.metrics
	if o.NodeAddresses == nil {
		o.NodeAddresses = []netip.Addr{netip.MustParseAddr("10.255.0.1")}
	}
	o.OnSessionChange = func(peer string, up bool) {
		l.mu.Lock()
		l.changes = append(l.changes, peer+"="+strconv.FormatBool(up))
		l.mu.Unlock()
	}
	l.speaker = startSpeaker(t, o)
	return l
}

// session is a session from the speaker to router host .n of the lab.
func (l *lab) session(name string, host byte, peerASN uint32) bgpspec.Session {
	return bgpspec.Session{
		Peer: name, MyASN: ourASN, PeerASN: peerASN, Address: l.lo.addr(host), Port: uint16(l.lo.port),
		SourceAddress: l.lo.speakerAddr(), ConnectTime: 1e9,
	}
}

// label is the metrics label of the lab's router at host: address:port.
func (l *lab) label(host byte) string { return fmt.Sprintf("%s:%d", l.lo.addr(host), l.lo.port) }

func (l *lab) sessions() []bgpspec.Session {
	return []bgpspec.Session{l.session("ibgp", 2, ourASN), l.session("ebgp", 3, externalASN)}
}

// up applies d, lets the routers accept the speaker and waits for both
// sessions. The routers learn of the speaker only after it started GoBGP:
// GoBGP keeps its route selection options in a package variable that every
// server's start writes, and this order gives the race detector (and the
// servers) a happens-before edge.
func (l *lab) up(t *testing.T, d bgpspec.Desired) {
	t.Helper()
	if err := l.speaker.Set(d); err != nil {
		t.Fatalf("Set: %v", err)
	}
	l.ibgp.expect(l.lo.speakerAddr(), ourASN, "")
	l.ebgp.expect(l.lo.speakerAddr(), ourASN, "")
	eventually(t, "both sessions are established", func() bool {
		return l.speaker.Established("ibgp") && l.speaker.Established("ebgp") &&
			l.ibgp.established(l.lo.speakerAddr()) && l.ebgp.established(l.lo.speakerAddr())
	})
}

func TestPathsArriveWithTheirAttributesOnlyAtTheirPeers(t *testing.T) {
	l := newLab(t, Options{})
	d := bgpspec.Desired{Sessions: l.sessions(), Paths: []bgpspec.Path{
		{Prefix: pfx("192.0.2.10/32"), Peers: []string{"ibgp", "ebgp"}, LocalPref: 200, Communities: []config.Community{large, std}},
		{Prefix: pfx("192.0.2.11/32"), Peers: []string{"ibgp"}},
		{Prefix: pfx("192.0.2.12/32"), Peers: []string{"ebgp"}},
	}}
	l.up(t, d)
	me := l.lo.speakerAddr()
	wantIBGP := map[netip.Prefix]received{
		pfx("192.0.2.10/32"): {NextHop: me, LocalPref: 200, Communities: []uint32{std.Standard}, Large: [][3]uint32{{1, 2, 3}}},
		pfx("192.0.2.11/32"): {NextHop: me, LocalPref: 100}, // GoBGP's default towards iBGP
	}
	wantEBGP := map[netip.Prefix]received{
		pfx("192.0.2.10/32"): {NextHop: me, Communities: []uint32{std.Standard}, Large: [][3]uint32{{1, 2, 3}}, ASPath: []uint32{ourASN}},
		pfx("192.0.2.12/32"): {NextHop: me, ASPath: []uint32{ourASN}},
	}
	eventually(t, "the routers have their paths", func() bool {
		return len(l.ibgp.paths(me)) == 2 && len(l.ebgp.paths(me)) == 2
	})
	if diff := cmp.Diff(wantIBGP, l.ibgp.paths(me), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("iBGP router's paths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEBGP, l.ebgp.paths(me), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("eBGP router's paths (-want +got):\n%s", diff)
	}
	l.mu.Lock()
	changes := slices.Sorted(slices.Values(l.changes))
	l.mu.Unlock()
	if diff := cmp.Diff([]string{"ebgp=true", "ibgp=true"}, changes, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("session callbacks (-want +got):\n%s", diff)
	}
	if got := l.metrics.get(func(m *fakeMetrics) int { return m.prefixes[l.label(2)] }); got != 2 {
		t.Errorf("announced prefixes metric for ibgp (label %s, MetalLB's address:port) = %d, want 2", l.label(2), got)
	}
	if got := l.metrics.get(func(m *fakeMetrics) int { return m.pending[l.label(2)] }); got != 0 {
		t.Errorf("pending prefixes of an established session = %d, want 0", got)
	}
	// FRR mode's message counters: OPENs and UPDATEs sent are what the
	// router received, the OPEN received is the router's; keepalives
	// flow both ways, and the totals hold every type.
	var sent, got metrics.BGPMessages
	eventually(t, "the message metrics count what the router received and sent", func() bool {
		l.metrics.mu.Lock()
		sent, got = l.metrics.sent[l.label(2)], l.metrics.received[l.label(2)]
		l.metrics.mu.Unlock()
		rm := l.ibgp.messages(me)
		return sent.Update == rm.GetReceived().GetUpdate() && sent.Open == rm.GetReceived().GetOpen() && got.Open == rm.GetSent().GetOpen() &&
			sent.Keepalive > 0 && got.Keepalive > 0
	})
	if sent.Open != 1 || got.Open != 1 || sent.Total < sent.Open+sent.Update+sent.Keepalive || got.Total < got.Open+got.Update+got.Keepalive {
		t.Errorf("message metrics of one session: sent %+v, received %+v", sent, got)
	}
}

// TestAcceptsARouterThatConnects: with ListenPort set, a router that
// listens nowhere (so the speaker's own connections are refused) and
// connects to the node gets its session and the paths.
func TestAcceptsARouterThatConnects(t *testing.T) {
	lo := newLoopback(t)
	port := freePort(t)
	// Port -1: the router opens no listener.
	r := newRouter(t, externalASN, "10.255.0.5", -1)
	s := startSpeaker(t, Options{ListenPort: port, NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.0.1")}})
	sess := bgpspec.Session{Peer: "dialer", MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(5), Port: uint16(lo.port),
		SourceAddress: lo.speakerAddr(), ConnectTime: 1e9}
	if err := s.Set(bgpspec.Desired{Sessions: []bgpspec.Session{sess}, Paths: []bgpspec.Path{{Prefix: pfx("192.0.2.20/32"), Peers: []string{"dialer"}}}}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	r.dial(lo.speakerAddr(), lo.addr(5), port, ourASN)
	eventually(t, "the router's connection established and the path received", func() bool {
		return r.established(lo.speakerAddr()) && len(r.paths(lo.speakerAddr())) == 1
	})
}

// freePort is a TCP port nothing listens on, on any address.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func TestChangesLeaveOtherSessionsAndPrefixesAlone(t *testing.T) {
	l := newLab(t, Options{})
	third := newRouter(t, externalASN+1, "10.255.0.4", l.lo.port, l.lo.addr(4))
	d := bgpspec.Desired{Sessions: l.sessions(), Paths: []bgpspec.Path{
		{Prefix: pfx("192.0.2.10/32"), Peers: []string{"ibgp", "ebgp"}},
		{Prefix: pfx("192.0.2.11/32"), Peers: []string{"ibgp"}},
	}}
	l.up(t, d)
	me := l.lo.speakerAddr()
	third.expect(me, ourASN, "")
	eventually(t, "the first paths arrive", func() bool { return len(l.ibgp.paths(me)) == 2 && len(l.ebgp.paths(me)) == 1 })

	type snapshot struct{ ibgpUp, ebgpUp string }
	uptimes := func() snapshot {
		return snapshot{l.ibgp.uptime(me).String(), l.ebgp.uptime(me).String()}
	}
	before := uptimes()
	var thirdUp time.Time
	steps := []struct {
		name string
		// change returns the next Desired.
		change func(d bgpspec.Desired) bgpspec.Desired
		// want: UPDATEs each router receives, once the step settles.
		ibgpUpdates, ebgpUpdates uint64
		settled                  func() bool
		check                    func(t *testing.T)
	}{{
		name: "a path for one peer is one UPDATE to that peer",
		change: func(d bgpspec.Desired) bgpspec.Desired {
			d.Paths = append(slices.Clone(d.Paths), bgpspec.Path{Prefix: pfx("192.0.2.12/32"), Peers: []string{"ibgp"}})
			return d
		},
		ibgpUpdates: 1,
		settled:     func() bool { return len(l.ibgp.paths(me)) == 3 },
	}, {
		name: "a new session touches no other",
		change: func(d bgpspec.Desired) bgpspec.Desired {
			d.Sessions = append(slices.Clone(d.Sessions), l.session("third", 4, externalASN+1))
			d.Paths = append(slices.Clone(d.Paths), bgpspec.Path{Prefix: pfx("192.0.2.13/32"), Peers: []string{"third"}})
			return d
		},
		settled: func() bool { return third.established(me) && len(third.paths(me)) == 1 },
	}, {
		name: "a changed session touches no other",
		change: func(d bgpspec.Desired) bgpspec.Desired {
			d.Sessions = slices.Clone(d.Sessions)
			d.Sessions[2].Password = "" // unchanged
			d.Sessions[2].HoldTime = 30e9
			return d
		},
		settled: func() bool { return third.established(me) },
		check: func(t *testing.T) {
			if got := third.uptime(me); got != thirdUp {
				t.Errorf("the changed session was re-established (uptime %v, was %v): timers change in place", got, thirdUp)
			}
		},
	}, {
		name: "a path's peer set shrinking withdraws it there only",
		change: func(d bgpspec.Desired) bgpspec.Desired {
			d.Paths = slices.Clone(d.Paths)
			d.Paths[0].Peers = []string{"ibgp"}
			return d
		},
		ebgpUpdates: 1,
		settled:     func() bool { return len(l.ebgp.paths(me)) == 0 },
	}, {
		name: "a removed path is withdrawn",
		change: func(d bgpspec.Desired) bgpspec.Desired {
			d.Paths = slices.DeleteFunc(slices.Clone(d.Paths), func(p bgpspec.Path) bool { return p.Prefix == pfx("192.0.2.11/32") })
			return d
		},
		ibgpUpdates: 1,
		settled: func() bool {
			_, ok := l.ibgp.paths(me)[pfx("192.0.2.11/32")]
			return !ok
		},
	}, {
		name: "a removed session touches no other",
		change: func(d bgpspec.Desired) bgpspec.Desired {
			d.Sessions = d.Sessions[:2]
			return d
		},
		settled: func() bool { return !third.established(me) },
	}}
	for _, step := range steps {
		ib, eb := l.ibgp.updatesReceived(me), l.ebgp.updatesReceived(me)
		d = step.change(d)
		if err := l.speaker.Set(d); err != nil {
			t.Fatalf("%s: Set: %v", step.name, err)
		}
		eventually(t, step.name, step.settled)
		// A stray UPDATE would have been sent before the ones awaited.
		eventually(t, step.name+": the speaker's counters settle", func() bool {
			return len(l.speaker.pendingPeers()) == 0
		})
		if got := l.ibgp.updatesReceived(me) - ib; got != step.ibgpUpdates {
			t.Errorf("%s: iBGP router received %d UPDATEs, want %d", step.name, got, step.ibgpUpdates)
		}
		if got := l.ebgp.updatesReceived(me) - eb; got != step.ebgpUpdates {
			t.Errorf("%s: eBGP router received %d UPDATEs, want %d", step.name, got, step.ebgpUpdates)
		}
		if got := uptimes(); got != before {
			t.Errorf("%s: a session was re-established: %+v, want %+v", step.name, got, before)
		}
		if step.check != nil {
			step.check(t)
		}
		if third.established(me) {
			thirdUp = third.uptime(me)
		}
	}
	if got := l.metrics.get(func(m *fakeMetrics) int { return len(m.withdrawn[l.label(3)]) }); got != 1 {
		t.Errorf("withdraw latencies recorded for ebgp = %d, want 1", got)
	}
}

func TestIPv6PathsArrive(t *testing.T) {
	lo := newLoopback(t)
	v6 := netip.MustParseAddr("::1")
	r6 := newRouter(t, externalASN, "10.255.1.2", lo.port, v6)
	r4 := newRouter(t, externalASN, "10.255.1.3", lo.port, lo.addr(3))
	r4only := newRouter(t, externalASN, "10.255.1.4", lo.port, lo.addr(4))
	nodeV6 := netip.MustParseAddr("fd00::1")
	m := newFakeMetrics()
	s := startSpeaker(t, Options{NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.1.1"), nodeV6}, Metrics: m})
	d := bgpspec.Desired{
		Sessions: []bgpspec.Session{
			{Peer: "v6", MyASN: ourASN, PeerASN: externalASN, Address: v6, Port: uint16(lo.port), SourceAddress: v6, ConnectTime: 1e9},
			{Peer: "v4", MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(3), Port: uint16(lo.port), SourceAddress: lo.speakerAddr(), ConnectTime: 1e9, DualStack: true},
			{Peer: "v4only", MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(4), Port: uint16(lo.port), SourceAddress: lo.speakerAddr(), ConnectTime: 1e9},
		},
		Paths: []bgpspec.Path{
			{Prefix: pfx("2001:db8::10/128"), Peers: []string{"v6", "v4", "v4only"}, Communities: []config.Community{std}},
			{Prefix: pfx("192.0.2.10/32"), Peers: []string{"v4only"}},
		},
	}
	if err := s.Set(d); err != nil {
		t.Fatalf("Set: %v", err)
	}
	r6.expect(v6, ourASN, "")
	r4.expect(lo.speakerAddr(), ourASN, "")
	r4only.expect(lo.speakerAddr(), ourASN, "")
	// The IPv4 path on v4only goes in the same Set as the IPv6 ones: once
	// it has arrived, the IPv6 path would have too.
	eventually(t, "the IPv6 path arrives on the IPv6 and the dual-stack session, the IPv4 one on v4only", func() bool {
		return len(r6.paths(v6)) == 1 && len(r4.paths(lo.speakerAddr())) == 1 && len(r4only.paths(lo.speakerAddr())) == 1
	})
	if _, ok := r4only.paths(lo.speakerAddr())[pfx("2001:db8::10/128")]; ok {
		t.Errorf("an IPv4 session without dualStackAddressFamily received the IPv6 path")
	}
	want := received{NextHop: v6, Communities: []uint32{std.Standard}, ASPath: []uint32{ourASN}}
	if diff := cmp.Diff(want, r6.paths(v6)[pfx("2001:db8::10/128")], cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("over IPv6 (-want +got):\n%s", diff)
	}
	want.NextHop = nodeV6
	if diff := cmp.Diff(want, r4.paths(lo.speakerAddr())[pfx("2001:db8::10/128")], cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("over IPv4, next hop from the node's IPv6 address (-want +got):\n%s", diff)
	}
}

func TestPathOfAFamilyWithoutNextHopIsReportedNotSent(t *testing.T) {
	lo := newLoopback(t)
	r := newRouter(t, externalASN, "10.255.2.2", lo.port, lo.addr(2))
	s := startSpeaker(t, Options{NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.2.1")}})
	d := bgpspec.Desired{
		Sessions: []bgpspec.Session{{Peer: "v4", MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(2),
			Port: uint16(lo.port), SourceAddress: lo.speakerAddr(), ConnectTime: 1e9, DualStack: true}},
		Paths: []bgpspec.Path{
			{Prefix: pfx("2001:db8::10/128"), Peers: []string{"v4"}},
			{Prefix: pfx("192.0.2.10/32"), Peers: []string{"v4"}},
		},
	}
	err := s.Set(d)
	var got []string
	for _, pe := range PeerErrors(err) {
		got = append(got, pe.Error())
	}
	want := []string{
		`BGP session "v4": IPv6 paths are not sent: the session is over IPv4 and the node has no IPv6 address for their next hop`,
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("Set's problems (-want +got):\n%s", diff)
	}
	r.expect(lo.speakerAddr(), ourASN, "")
	eventually(t, "the IPv4 path arrives", func() bool { return len(r.paths(lo.speakerAddr())) == 1 })
	if _, ok := r.paths(lo.speakerAddr())[pfx("2001:db8::10/128")]; ok {
		t.Errorf("the IPv6 path was sent without a usable next hop")
	}
}

// md5Failures reads the kernel's count of segments dropped for a wrong TCP
// MD5 signature: the only trace a wrong password leaves.
func md5Failures(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/net/netstat")
	if err != nil {
		t.Fatalf("reading TCP counters: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, n := range names {
			if n == "TCPMD5Failure" && i < len(fields) {
				v, _ := strconv.ParseUint(fields[i], 10, 64)
				return v
			}
		}
	}
	t.Fatalf("no TCPMD5Failure counter in /proc/net/netstat")
	return 0
}

func TestMD5PasswordMustMatch(t *testing.T) {
	lo := newLoopback(t)
	right := newRouter(t, externalASN, "10.255.3.2", lo.port, lo.addr(2))
	wrong := newRouter(t, externalASN, "10.255.3.3", lo.port, lo.addr(3))
	s := startSpeaker(t, Options{NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.3.1")}})
	session := func(name string, host byte, password string) bgpspec.Session {
		return bgpspec.Session{Peer: name, MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(host),
			Port: uint16(lo.port), SourceAddress: lo.speakerAddr(), ConnectTime: 1e9, Password: password}
	}
	failures := md5Failures(t)
	if err := s.Set(bgpspec.Desired{Sessions: []bgpspec.Session{session("right", 2, "s3cret"), session("wrong", 3, "guess")}}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	right.expect(lo.speakerAddr(), ourASN, "s3cret")
	wrong.expect(lo.speakerAddr(), ourASN, "s3cret")
	eventually(t, "the session with the right password is established", func() bool { return s.Established("right") })
	eventually(t, "the kernel drops a segment signed with the wrong password", func() bool { return md5Failures(t) > failures })
	if s.Established("wrong") || wrong.established(lo.speakerAddr()) {
		t.Errorf("the session with the wrong password is established")
	}
}

func TestShutdownWithdrawsBeforeClosing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		graceful bool
		wait     time.Duration
		withdraw time.Duration
	}{
		{name: "plain"},
		{name: "graceful", graceful: true, wait: 1},
		// The wait is longer than the withdraw timeout: the withdrawals
		// after it still get their own time (they once ran on a context
		// the wait had used up, and the sessions closed without them).
		{name: "graceful wait longer than the withdraw timeout", graceful: true, wait: 600 * time.Millisecond, withdraw: 400 * time.Millisecond},
	} {
		graceful := tc.graceful
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Options{GracefulShutdown: graceful, GracefulShutdownWait: tc.wait, WithdrawTimeout: tc.withdraw,
				NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.0.1"), netip.MustParseAddr("fd00::1")}})
			me := l.lo.speakerAddr()
			rec := l.ibgp.record(me)
			prefixes := []netip.Prefix{pfx("192.0.2.10/32"), pfx("192.0.2.11/32"), pfx("2001:db8::10/128")}
			d := bgpspec.Desired{Sessions: l.sessions()}
			for i := range d.Sessions {
				d.Sessions[i].DualStack = true // the IPv6 prefix too
			}
			for _, p := range prefixes {
				d.Paths = append(d.Paths, bgpspec.Path{Prefix: p, Peers: []string{"ibgp", "ebgp"}})
			}
			l.up(t, d)
			eventually(t, "the paths arrive", func() bool { return len(l.ibgp.paths(me)) == 3 && len(l.ebgp.paths(me)) == 3 })

			if err := l.speaker.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			// The router's events in order: every prefix withdrawn, then
			// the session leaving Established.
			var withdrawn []netip.Prefix
			closedAfter := -1
			eventually(t, "the router sees the session close", func() bool {
				withdrawn, closedAfter = nil, -1
				wasUp := false
				for _, ev := range rec.snapshot() {
					withdrawn = append(withdrawn, ev.withdrawn...)
					switch {
					case ev.state == api.PeerState_ESTABLISHED:
						wasUp = true
					case ev.state != api.PeerState_UNKNOWN && wasUp && closedAfter < 0:
						closedAfter = len(withdrawn)
					}
				}
				return closedAfter >= 0
			})
			slices.SortFunc(withdrawn, netip.Prefix.Compare)
			if closedAfter != len(prefixes) || !slices.Equal(withdrawn, prefixes) {
				t.Errorf("withdrawn %v, session closed after %d withdrawals; want %v all before the close", withdrawn, closedAfter, prefixes)
			}
			var marked []netip.Prefix
			for _, ev := range rec.snapshot() {
				marked = append(marked, ev.gshut...)
			}
			slices.SortFunc(marked, netip.Prefix.Compare)
			if want := map[bool][]netip.Prefix{true: prefixes}[graceful]; !slices.Equal(marked, want) {
				t.Errorf("paths re-sent with GRACEFUL_SHUTDOWN: %v, want %v", marked, want)
			}
			if got := l.metrics.get(func(m *fakeMetrics) int { return len(m.withdrawn[l.label(2)]) }); got == 0 {
				t.Errorf("no withdraw latency recorded for ibgp")
			}
			if l.speaker.Established("ibgp") {
				t.Errorf("Established(ibgp) after Shutdown")
			}
			if err := l.speaker.Set(d); err == nil {
				t.Errorf("Set after Shutdown succeeded")
			}
		})
	}
}

func TestSessionSettingsReachGoBGP(t *testing.T) {
	lo := newLoopback(t)
	s := startSpeaker(t, Options{NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.5.1")}})
	err := s.Set(bgpspec.Desired{Sessions: []bgpspec.Session{{
		Peer: "full", MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(2), Port: 1179, SourceAddress: lo.speakerAddr(),
		HoldTime: 9e9, KeepaliveTime: 3e9, ConnectTime: 7e9, Password: "pw", EBGPMultiHop: true, EnableGracefulRestart: true,
	}}})
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	var p *api.Peer
	if err := s.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: lo.addr(2).String()}, func(x *api.Peer) { p = x }); err != nil || p == nil {
		t.Fatalf("the speaker's GoBGP has no neighbour %s: %v", lo.addr(2), err)
	}
	type settings struct {
		LocalASN, PeerASN             uint32
		Password, LocalAddress        string
		RemotePort                    uint32
		Hold, Keepalive, ConnectRetry uint64
		MultiHop                      bool
		TTL                           uint32
		GracefulRestart               bool
		RestartTime                   uint32
		Families                      int
		PassiveMode                   bool
	}
	got := settings{
		LocalASN: p.Conf.LocalAsn, PeerASN: p.Conf.PeerAsn, Password: p.Conf.AuthPassword,
		LocalAddress: p.Transport.LocalAddress, RemotePort: p.Transport.RemotePort, PassiveMode: p.Transport.PassiveMode,
		Hold: p.Timers.Config.HoldTime, Keepalive: p.Timers.Config.KeepaliveInterval, ConnectRetry: p.Timers.Config.ConnectRetry,
		MultiHop: p.EbgpMultihop.GetEnabled(), TTL: p.EbgpMultihop.GetMultihopTtl(),
		GracefulRestart: p.GracefulRestart.GetEnabled(), RestartTime: p.GracefulRestart.GetRestartTime(), Families: len(p.AfiSafis),
	}
	want := settings{
		LocalASN: ourASN, PeerASN: externalASN, Password: "pw", LocalAddress: lo.speakerAddr().String(), RemotePort: 1179,
		// One family: the peer's own, without dualStackAddressFamily.
		Hold: 9, Keepalive: 3, ConnectRetry: 7, MultiHop: true, TTL: 255, GracefulRestart: true, RestartTime: 120, Families: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GoBGP neighbour (-want +got):\n%s", diff)
	}
}

func TestDynamicASNSessionsEstablish(t *testing.T) {
	lo := newLoopback(t)
	internal := newRouter(t, ourASN, "10.255.6.2", lo.port, lo.addr(2))
	external := newRouter(t, externalASN, "10.255.6.3", lo.port, lo.addr(3))
	s := startSpeaker(t, Options{NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.6.1")}})
	dyn := func(name string, host byte, kind string) bgpspec.Session {
		return bgpspec.Session{Peer: name, MyASN: ourASN, DynamicASN: kind, Address: lo.addr(host), Port: uint16(lo.port),
			SourceAddress: lo.speakerAddr(), ConnectTime: 1e9, EnableGracefulRestart: true}
	}
	err := s.Set(bgpspec.Desired{
		// Graceful restart asked for, the router not offering it: the
		// session runs without.
		Sessions: []bgpspec.Session{dyn("internal", 2, "internal"), dyn("external", 3, "external")},
		Paths:    []bgpspec.Path{{Prefix: pfx("192.0.2.10/32"), Peers: []string{"internal", "external"}, LocalPref: 300}},
	})
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	internal.expect(lo.speakerAddr(), ourASN, "")
	external.expect(lo.speakerAddr(), ourASN, "")
	eventually(t, "both paths arrive", func() bool {
		return len(internal.paths(lo.speakerAddr())) == 1 && len(external.paths(lo.speakerAddr())) == 1
	})
	me := lo.speakerAddr()
	if got := internal.paths(me)[pfx("192.0.2.10/32")]; got.LocalPref != 300 || len(got.ASPath) != 0 {
		t.Errorf("over the internal session: %+v, want LOCAL_PREF 300 and an empty AS path", got)
	}
	if got := external.paths(me)[pfx("192.0.2.10/32")]; got.LocalPref != 0 || !slices.Equal(got.ASPath, []uint32{ourASN}) {
		t.Errorf("over the external session: %+v, want no LOCAL_PREF and AS path [%d]", got, ourASN)
	}
}

// The restart writes GoBGP's package-level route selection options while
// the router may be busy (see router_test.go): the router holds no path of
// ours across it, so it has nothing to recompute then.
func TestRouterIDChangeRestartsTheSessions(t *testing.T) {
	lo := newLoopback(t)
	r := newRouter(t, externalASN, "10.255.7.2", lo.port, lo.addr(2))
	s := startSpeaker(t, Options{NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.7.1")}})
	d := bgpspec.Desired{
		Sessions: []bgpspec.Session{{Peer: "r", MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(2), Port: uint16(lo.port),
			SourceAddress: lo.speakerAddr(), ConnectTime: 1e9}},
	}
	if err := s.Set(d); err != nil {
		t.Fatalf("Set: %v", err)
	}
	r.expect(lo.speakerAddr(), ourASN, "")
	routerID := func() string { return r.peer(lo.speakerAddr()).GetState().GetRouterId() }
	eventually(t, "the router knows the speaker by the node's address", func() bool {
		return r.established(lo.speakerAddr()) && routerID() == "10.255.7.1"
	})
	d.Sessions[0].RouterID = netip.MustParseAddr("10.9.9.9")
	if err := s.Set(d); err != nil {
		t.Fatalf("Set: %v", err)
	}
	eventually(t, "the router knows the speaker by the session's router ID", func() bool {
		return r.established(lo.speakerAddr()) && routerID() == "10.9.9.9" && s.Established("r")
	})
	d.Paths = []bgpspec.Path{{Prefix: pfx("192.0.2.10/32"), Peers: []string{"r"}}}
	if err := s.Set(d); err != nil {
		t.Fatalf("Set: %v", err)
	}
	eventually(t, "the restarted session carries paths", func() bool { return len(r.paths(lo.speakerAddr())) == 1 })
}
