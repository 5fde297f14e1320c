// Go listens with MPTCP where the kernel has it, and an MPTCP socket takes
// neither a TCP MD5 key nor a TTL: the test routers must listen as a
// router does, on plain TCP. (The speaker itself never listens.)
//
//go:debug multipathtcp=0

package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
	"k8s.io/utils/clock"

	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/test/poll"
)

// The tests peer the speaker with routers that are second and third
// in-process GoBGP servers listening on loopback addresses. Each test takes
// its own 127.77.N.0/24 (the speaker is .1, routers .2 up), so a session
// left over by one test cannot meet another's.
//
// The tests do not run in parallel: GoBGP keeps route selection options in
// package variables that StartBgp writes and path processing reads, so two
// servers starting while others process paths race (harmless in the
// speaker, which runs one server). Within a test every server is started
// before the routers accept the speaker, which orders those accesses.

var subnet atomic.Uint32

type loopback struct {
	n    uint32
	port int32
}

func newLoopback(t *testing.T) loopback {
	t.Helper()
	l := loopback{n: subnet.Add(1)}
	// A port free on every address this test's routers use.
	for range 20 {
		ln, err := net.Listen("tcp", l.addr(2).String()+":0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		l.port = int32(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		free := true
		for _, a := range []string{l.addr(3).String(), l.addr(4).String(), "[::1]"} {
			ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", a, l.port))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return l
		}
	}
	t.Fatalf("no port free on all test addresses")
	return l
}

func (l loopback) addr(host byte) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 77, byte(l.n), host})
}

// speakerAddr is the speaker's source address in this test.
func (l loopback) speakerAddr() netip.Addr { return l.addr(1) }

type router struct {
	t   *testing.T
	srv *server.BgpServer
	asn uint32
}

// newRouter starts a GoBGP server listening on addr:port.
func newRouter(t *testing.T, asn uint32, routerID string, port int32, listen ...netip.Addr) *router {
	t.Helper()
	srv := server.NewBgpServer(server.LoggerOption(logAdapter{log: logr.Discard()}))
	go srv.Serve()
	var addrs []string
	for _, a := range listen {
		addrs = append(addrs, a.String())
	}
	if err := srv.StartBgp(context.Background(), &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: routerID, ListenPort: port, ListenAddresses: addrs,
	}}); err != nil {
		t.Fatalf("starting router %s: %v", routerID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := quiesce(ctx, srv, clock.RealClock{}, 10*time.Millisecond); err != nil {
			t.Errorf("router %s: %v", routerID, err)
		}
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{})
	})
	return &router{t: t, srv: srv, asn: asn}
}

// expect configures the speaker as a passive neighbour.
func (r *router) expect(speaker netip.Addr, asn uint32, password string) {
	r.t.Helper()
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: speaker.String(), PeerAsn: asn, AuthPassword: password},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: familyV4, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: familyV6, Enabled: true}},
		},
	}
	if err := r.srv.AddPeer(context.Background(), &api.AddPeerRequest{Peer: p}); err != nil {
		r.t.Fatalf("router: adding neighbour %s: %v", speaker, err)
	}
}

// dial configures the speaker as a neighbour the router connects to, at
// port, from its own address local.
func (r *router) dial(speaker, local netip.Addr, port uint16, asn uint32) {
	r.t.Helper()
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: speaker.String(), PeerAsn: asn},
		Transport: &api.Transport{RemotePort: uint32(port), LocalAddress: local.String()},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: familyV4, Enabled: true}},
		},
	}
	if err := r.srv.AddPeer(context.Background(), &api.AddPeerRequest{Peer: p}); err != nil {
		r.t.Fatalf("router: adding neighbour %s: %v", speaker, err)
	}
}

func (r *router) peer(speaker netip.Addr) *api.Peer {
	r.t.Helper()
	var out *api.Peer
	err := r.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: speaker.String()}, func(p *api.Peer) { out = p })
	if err != nil || out == nil {
		r.t.Fatalf("router: neighbour %s: %v", speaker, err)
	}
	return out
}

func (r *router) established(speaker netip.Addr) bool {
	return r.peer(speaker).GetState().GetSessionState() == api.PeerState_ESTABLISHED
}

// session identifies one establishment of the session with speaker.
func (r *router) uptime(speaker netip.Addr) time.Time {
	return r.peer(speaker).GetTimers().GetState().GetUptime().AsTime()
}

func (r *router) updatesReceived(speaker netip.Addr) uint64 {
	return r.peer(speaker).GetState().GetMessages().GetReceived().GetUpdate()
}

// messages is what the router counted of its session with speaker.
func (r *router) messages(speaker netip.Addr) *api.Messages {
	return r.peer(speaker).GetState().GetMessages()
}

// received is a path as the router got it.
type received struct {
	NextHop     netip.Addr
	LocalPref   uint32 // 0: absent
	Communities []uint32
	Large       [][3]uint32
	ASPath      []uint32
}

// paths is the router's Adj-RIB-In from speaker, both families.
func (r *router) paths(speaker netip.Addr) map[netip.Prefix]received {
	r.t.Helper()
	out := map[netip.Prefix]received{}
	for _, f := range []*api.Family{familyV4, familyV6} {
		err := r.srv.ListPath(context.Background(), &api.ListPathRequest{
			TableType: api.TableType_ADJ_IN, Name: speaker.String(), Family: f,
		}, func(d *api.Destination) {
			for _, p := range d.Paths {
				pfx := netip.MustParsePrefix(d.Prefix)
				out[pfx] = decode(r.t, p)
			}
		})
		if err != nil {
			r.t.Fatalf("router: listing paths from %s: %v", speaker, err)
		}
	}
	return out
}

func decode(t *testing.T, p *api.Path) received {
	t.Helper()
	attrs, err := apiutil.UnmarshalPathAttributes(p.Pattrs)
	if err != nil {
		t.Fatalf("decoding attributes: %v", err)
	}
	var rc received
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgppkt.PathAttributeNextHop:
			rc.NextHop, _ = netip.AddrFromSlice(a.Value)
			rc.NextHop = rc.NextHop.Unmap()
		case *bgppkt.PathAttributeMpReachNLRI:
			rc.NextHop, _ = netip.AddrFromSlice(a.Nexthop)
			rc.NextHop = rc.NextHop.Unmap()
		case *bgppkt.PathAttributeLocalPref:
			rc.LocalPref = a.Value
		case *bgppkt.PathAttributeCommunities:
			rc.Communities = slices.Clone(a.Value)
		case *bgppkt.PathAttributeLargeCommunities:
			for _, v := range a.Values {
				rc.Large = append(rc.Large, [3]uint32{v.ASN, v.LocalData1, v.LocalData2})
			}
		case *bgppkt.PathAttributeAsPath:
			for _, seg := range a.Value {
				rc.ASPath = append(rc.ASPath, seg.GetAS()...)
			}
		}
	}
	return rc
}

// event is what the router saw from the speaker, in order.
type event struct {
	withdrawn []netip.Prefix
	announced []netip.Prefix
	gshut     []netip.Prefix             // announced with GRACEFUL_SHUTDOWN
	state     api.PeerState_SessionState // set for a state change
}

// recorder keeps the router's events about one neighbour, in the order
// GoBGP processed them (one watcher, one goroutine).
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *router) record(speaker netip.Addr) *recorder {
	r.t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	r.t.Cleanup(cancel)
	err := r.srv.WatchEvent(ctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_ADJIN, PeerAddress: speaker.String()},
		}},
	}, func(w *api.WatchEventResponse) {
		var ev event
		if pe := w.GetPeer(); pe != nil {
			if pe.GetPeer().GetState().GetNeighborAddress() != speaker.String() {
				return
			}
			ev.state = pe.GetPeer().GetState().GetSessionState()
		}
		for _, p := range w.GetTable().GetPaths() {
			nlri, err := apiutil.UnmarshalNLRI(bgppkt.AfiSafiToRouteFamily(uint16(p.Family.Afi), uint8(p.Family.Safi)), p.Nlri)
			if err != nil {
				continue
			}
			pfx := netip.MustParsePrefix(nlri.String())
			if p.IsWithdraw {
				ev.withdrawn = append(ev.withdrawn, pfx)
				continue
			}
			ev.announced = append(ev.announced, pfx)
			// Not decode: this runs on GoBGP's goroutine, where a test
			// must not fail.
			attrs, _ := apiutil.UnmarshalPathAttributes(p.Pattrs)
			for _, a := range attrs {
				if c, ok := a.(*bgppkt.PathAttributeCommunities); ok && slices.Contains(c.Value, gracefulShutdownCommunity.Standard) {
					ev.gshut = append(ev.gshut, pfx)
				}
			}
		}
		rec.mu.Lock()
		rec.events = append(rec.events, ev)
		rec.mu.Unlock()
	})
	if err != nil {
		r.t.Fatalf("router: watching: %v", err)
	}
	return rec
}

func (rec *recorder) snapshot() []event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.events)
}

// eventually polls cond until it holds or the deadline passes. The
// deadline is generous: it bounds a broken test, it measures nothing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.True(t, what, 30*time.Second, 20*time.Millisecond, cond)
}

// fakeMetrics records what the speaker reports.
type fakeMetrics struct {
	mu        sync.Mutex
	up        map[string]bool
	sent      map[string]metrics.BGPMessages
	received  map[string]metrics.BGPMessages
	prefixes  map[string]int
	pending   map[string]int
	withdrawn map[string][]time.Duration
	removed   []string
}

func newFakeMetrics() *fakeMetrics {
	return &fakeMetrics{up: map[string]bool{}, sent: map[string]metrics.BGPMessages{}, received: map[string]metrics.BGPMessages{}, prefixes: map[string]int{}, pending: map[string]int{}, withdrawn: map[string][]time.Duration{}}
}

func (m *fakeMetrics) BGPSession(p string, up bool) { m.mu.Lock(); m.up[p] = up; m.mu.Unlock() }
func (m *fakeMetrics) BGPMessages(p string, sent, received metrics.BGPMessages) {
	m.mu.Lock()
	defer m.mu.Unlock()
	add := func(to *metrics.BGPMessages, n metrics.BGPMessages) {
		to.Open += n.Open
		to.Update += n.Update
		to.Notification += n.Notification
		to.Keepalive += n.Keepalive
		to.RouteRefresh += n.RouteRefresh
		to.Total += n.Total
	}
	s, r := m.sent[p], m.received[p]
	add(&s, sent)
	add(&r, received)
	m.sent[p], m.received[p] = s, r
}
func (m *fakeMetrics) BGPAnnouncedPrefixes(p string, n int) {
	m.mu.Lock()
	m.prefixes[p] = n
	m.mu.Unlock()
}
func (m *fakeMetrics) BGPPendingPrefixes(p string, n int) {
	m.mu.Lock()
	m.pending[p] = n
	m.mu.Unlock()
}
func (m *fakeMetrics) BGPWithdrawn(p string, d time.Duration) {
	m.mu.Lock()
	m.withdrawn[p] = append(m.withdrawn[p], d)
	m.mu.Unlock()
}
func (m *fakeMetrics) BGPPeerRemoved(p string) {
	m.mu.Lock()
	m.removed = append(m.removed, p)
	m.mu.Unlock()
}

var _ Metrics = (*metrics.Speaker)(nil)

func (m *fakeMetrics) get(f func(m *fakeMetrics) int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f(m)
}

// startSpeaker runs a Speaker until the test ends.
func startSpeaker(t *testing.T, o Options) *Speaker {
	t.Helper()
	if o.Log.GetSink() == nil {
		// Not testr: GoBGP's goroutines may log after the test ends.
		o.Log = funcr.New(func(prefix, args string) {
			if testing.Verbose() {
				fmt.Fprintln(os.Stderr, t.Name(), prefix, args)
			}
		}, funcr.Options{Verbosity: 1})
	}
	s := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("speaker stopped: %v", err)
		}
	})
	<-s.Ready()
	return s
}
