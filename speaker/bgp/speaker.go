package bgp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"k8s.io/utils/clock"

	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/speaker/bfd"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// Metrics receives what the speaker observes per peer, named as MetalLB's
// metrics name it: "address:port" (see peerLabel); *metrics.Speaker
// implements it.
type Metrics interface {
	BGPSession(peer string, up bool)
	// BGPMessages adds messages sent to and received from the peer.
	BGPMessages(peer string, sent, received metrics.BGPMessages)
	BGPAnnouncedPrefixes(peer string, n int)
	// BGPPendingPrefixes is how many of the peer's prefixes it has not been
	// sent: all of them while the session is down.
	BGPPendingPrefixes(peer string, n int)
	// BGPWithdrawn is the time from deciding to withdraw a path to the
	// UPDATE carrying the withdrawal being written to the peer's socket.
	BGPWithdrawn(peer string, d time.Duration)
	BGPPeerRemoved(peer string)
}

type noMetrics struct{}

func (noMetrics) BGPSession(string, bool)                                      {}
func (noMetrics) BGPMessages(string, metrics.BGPMessages, metrics.BGPMessages) {}
func (noMetrics) BGPAnnouncedPrefixes(string, int)                             {}
func (noMetrics) BGPPendingPrefixes(string, int)                               {}
func (noMetrics) BGPWithdrawn(string, time.Duration)                           {}
func (noMetrics) BGPPeerRemoved(string)                                        {}

// Options configure a Speaker.
type Options struct {
	Log     logr.Logger
	Clock   clock.WithTicker
	Metrics Metrics
	// NodeAddresses are the node's own addresses: the first IPv4 one is
	// the router ID when no session names one, and the first of a family
	// is the next hop of that family's paths on sessions of the other
	// family (an IPv6 VIP over an IPv4 session). Without one, such paths
	// are not sent and Set reports it.
	NodeAddresses []netip.Addr
	// OnSessionChange is told when a session becomes established or stops
	// being so (also when it is removed, and at stop). It is called from
	// GoBGP's or Set's goroutine, must not block for long nor call Set,
	// and is not called after Run returns.
	OnSessionChange func(peer string, established bool)
	// OnBFDChange is told when BFD lets a session up (up) or takes it
	// down, with BFD's diagnostic. It is called with the speaker's lock
	// held: it must return quickly and not call Set.
	OnBFDChange func(peer string, up bool, diagnostic string)
	// WithdrawTimeout bounds how long stopping waits for the withdrawals
	// to be sent before closing the sessions. A healthy session sends
	// them within milliseconds; a peer that stopped reading must not hold
	// the pod's termination past its grace period (30 s by default).
	// DefaultWithdrawTimeout when zero.
	WithdrawTimeout time.Duration
	// GracefulShutdown, when set, makes stopping first re-send every path
	// with the GRACEFUL_SHUTDOWN community (RFC 8326) and wait
	// GracefulShutdownWait, so routers move traffic to other nodes before
	// the paths are withdrawn. DefaultGracefulShutdownWait when zero.
	GracefulShutdown     bool
	GracefulShutdownWait time.Duration
	// ListenPort, when not 0, is a TCP port the speaker accepts its
	// configured peers' connections on, on every address of the node: a
	// router that only connects, and never answers connections, gets its
	// session. 0 listens nowhere, as MetalLB's speakers (its FRR mode
	// runs bgpd with -p 0): every session is then opened by the node.
	ListenPort uint16
	// PollInterval is how often the per-peer message counters are read
	// for the updates metric and for pending withdrawals. GoBGP has no
	// event for a message sent, so counters are the only witness.
	// DefaultPollInterval when zero.
	PollInterval time.Duration
	// BFDSockets opens the BFD sessions' sockets (tests: in a network
	// namespace); the host's when nil.
	BFDSockets bfd.Sockets
	// BFDMetrics receives the BFD sessions' metrics; none when nil.
	BFDMetrics bfd.Metrics
	// FindLinkRouter finds the router of an unnumbered session on its
	// interface, by its IPv6 link-local address, and this node's own
	// link-local address there (BFD runs between the two; both zone
	// included); the kernel's neighbour table, nudged by a Router
	// Solicitation, when nil. It is asked on every Set and every
	// LinkInterval while such sessions exist, and must return quickly.
	FindLinkRouter func(iface string) (local, router netip.Addr, err error)
	// AdvertiseOnLink tells the router of an unnumbered session this
	// node's link-local address: a Router Advertisement (lifetime 0) when
	// nil. It is sent every LinkInterval while the session is not
	// established, every linkAdvertEvery intervals once it is.
	AdvertiseOnLink func(iface string) error
	// LinkInterval is how often unnumbered sessions' routers are looked
	// for again, and how often a BFD hold is checked against
	// BFDHoldLimit; DefaultLinkInterval when zero.
	LinkInterval time.Duration
	// BFDHoldLimit is how long a session BFD took down stays down while
	// BFD does not come Up again; DefaultBFDHoldLimit when zero.
	BFDHoldLimit time.Duration
}

// Defaults of Options' timers.
const (
	DefaultWithdrawTimeout = 5 * time.Second
	// RFC 8326 leaves the wait to the operator; a few seconds cover a
	// router's best-path run and its FIB update.
	DefaultGracefulShutdownWait = 5 * time.Second
	// DefaultPollInterval makes the withdraw latency metric precise to
	// a few milliseconds; a read is one round trip on GoBGP's loop.
	DefaultPollInterval = 5 * time.Millisecond
	// DefaultLinkInterval: an unnumbered session waits at most this long
	// after its router answers a solicitation.
	DefaultLinkInterval = time.Second
	// DefaultBFDHoldLimit ends the hold of a session whose BFD went down
	// and stayed down. A router that runs BFD only for an established
	// BGP session (FRR's dynamic neighbours, from a `bgp listen range`)
	// deletes its BFD session with the BGP one, so BFD cannot come Up
	// again until BGP connects: without a limit both would stay down for
	// good. Ten seconds keep a session from flapping back onto a path
	// that lost BFD for a moment, and are what a router that deletes its
	// BFD with the session costs in recovery.
	DefaultBFDHoldLimit = 10 * time.Second
)

// ErrNotRunning is Set's answer before Run has started the server or
// after the speaker stopped; a caller reconciling in a loop just tries
// again on its next pass.
var ErrNotRunning = errors.New("bgp: the speaker is not running (Set before Run, or after it stopped)")

var errRunTwice = errors.New("bgp: Run called twice")

// session is one configured GoBGP neighbour, its VRF and what it sends.
type session struct {
	n      neighbor
	vrf    uint16
	routes map[netip.Prefix]route
}

// Speaker owns one embedded GoBGP server. It does not listen for
// connections (port -1): it always opens the sessions itself.
//
// mu serialises Set and stopping and guards the fields below it; it is
// held across GoBGP calls. stateMu guards session states and counters
// and is taken by GoBGP's event goroutine, so it is never held while
// calling GoBGP. Locks are taken in the order mu → cbMu → stateMu and
// pollMu → stateMu; OnSessionChange runs under cbMu, hence must not call
// Set.
type Speaker struct {
	opts Options

	mu       sync.Mutex
	srv      *server.BgpServer
	running  bool // Run has started and stopping has not begun
	started  bool // StartBgp done
	routerID netip.Addr
	sessions map[string]*session
	nextVRF  uint16
	// last is the Desired of the latest Set, applied again when the
	// router of an unnumbered session is found or changes; links are
	// those routers by interface.
	last  bgpspec.Desired
	links map[string]linkPeer
	// linkTicks counts relink ticks, for advertising on established
	// unnumbered sessions' links every linkAdvertEvery ticks; linkErrs
	// is the last advertisement error per link, logged once.
	linkTicks int
	linkErrs  map[string]string
	// bfd runs the sessions' BFD; bfdNames maps its peers to sessions.
	// held are the sessions BFD took down, held administratively down
	// since the time given until BFD is Up again or BFDHoldLimit passes.
	bfd      *bfd.Manager
	bfdNames map[bfd.Peer]string
	held     map[string]time.Time

	pollMu sync.Mutex // one counter read at a time, so deltas stay right
	// cbMu orders the session callbacks: an event, a removal and the
	// final "down" at stop never overtake each other.
	cbMu sync.Mutex
	kick chan struct{} // a withdrawal is pending: poll fast

	stateMu  sync.Mutex
	closed   bool
	byAddr   map[netip.Addr]string // neighbour address → peer
	anyASN   map[string]bool       // sessions taking the AS the peer announces
	up       map[string]bool
	labels   map[string]string        // peer → its metrics label
	routes   map[string]int           // peer → prefixes in its table
	counted  map[string]messageCounts // last message counts read per peer
	pending  []withdrawal
	ready    chan struct{} // closed when Run accepts Set
	stopping chan struct{} // closed when stopping begins
	done     chan struct{} // closed when stopped
}

// withdrawal is a batch of withdrawals sent to an established peer,
// done once the peer's UPDATE counter reaches target.
type withdrawal struct {
	peer    string
	target  uint64
	decided time.Time
}

// New returns a Speaker; nothing runs until Run.
func New(o Options) *Speaker {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.WithdrawTimeout == 0 {
		o.WithdrawTimeout = DefaultWithdrawTimeout
	}
	if o.GracefulShutdownWait == 0 {
		o.GracefulShutdownWait = DefaultGracefulShutdownWait
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.FindLinkRouter == nil {
		o.FindLinkRouter = findLinkRouter
	}
	if o.AdvertiseOnLink == nil {
		o.AdvertiseOnLink = advertiseOnLink
	}
	if o.LinkInterval == 0 {
		o.LinkInterval = DefaultLinkInterval
	}
	if o.BFDHoldLimit == 0 {
		o.BFDHoldLimit = DefaultBFDHoldLimit
	}
	s := &Speaker{
		opts: o, sessions: map[string]*session{}, byAddr: map[netip.Addr]string{}, anyASN: map[string]bool{},
		up: map[string]bool{}, counted: map[string]messageCounts{}, labels: map[string]string{}, routes: map[string]int{},
		ready: make(chan struct{}), stopping: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1),
		bfdNames: map[bfd.Peer]string{}, held: map[string]time.Time{}, links: map[string]linkPeer{}, linkErrs: map[string]string{},
	}
	s.bfd = &bfd.Manager{Log: o.Log.WithName("bfd"), Clock: o.Clock, Sockets: o.BFDSockets, OnEvent: s.onBFD, Metrics: o.BFDMetrics}
	return s
}

// Run serves until ctx ends or Shutdown is called, then withdraws every
// path, waits (at most WithdrawTimeout) until the withdrawals have been
// sent and closes the sessions with a Cease.
//
// GoBGP's main loop (BgpServer.Serve) has no way to end: one goroutine per
// Speaker outlives Run, idle, with every session and listener closed.
func (s *Speaker) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.srv != nil {
		s.mu.Unlock()
		return errRunTwice
	}
	s.srv = server.NewBgpServer(server.LoggerOption(logAdapter{log: s.opts.Log.WithName("gobgp")}))
	go s.srv.Serve()
	// Watching before any Set adds a session, so no state change is
	// missed. GoBGP's watcher goroutine ends with watchCtx.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	if err := s.srv.WatchEvent(watchCtx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.onEvent); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("bgp: watching session states: %w", err)
	}
	s.running = true
	close(s.ready)
	s.mu.Unlock()
	// BFD stops after BGP: the sessions are closed with a Cease first,
	// then BFD tells the routers AdminDown.
	bfdCtx, stopBFD := context.WithCancel(context.WithoutCancel(ctx))
	var bfdRun sync.WaitGroup
	bfdRun.Go(func() { _ = s.bfd.Run(bfdCtx) })
	defer bfdRun.Wait()
	defer stopBFD()

	t := s.opts.Clock.NewTimer(s.opts.PollInterval)
	defer t.Stop()
	relink := s.opts.Clock.NewTicker(s.opts.LinkInterval)
	defer relink.Stop()
	for {
		select {
		case <-relink.C():
			s.relink()
			s.endStaleHolds()
		case <-ctx.Done():
			stopCtx, cancel := s.withdrawDeadline(context.WithoutCancel(ctx))
			err := s.stop(stopCtx)
			cancel()
			<-s.done
			return err
		case <-s.stopping:
			<-s.done
			return nil
		case <-s.kick:
		case <-t.C():
			s.poll()
		}
		next := countersInterval
		if len(s.pendingPeers()) > 0 {
			next = s.opts.PollInterval
		}
		t.Reset(next)
	}
}

// countersInterval is how often the UPDATE counters are read when no
// withdrawal is pending, for the updates metric: a scrape interval is
// 15 s or more, so a second is fresh enough and costs nothing.
const countersInterval = time.Second

// Shutdown stops the speaker as Run does when its context ends, bounded
// by ctx and stopBudget, and returns once the sessions are closed.
func (s *Speaker) Shutdown(ctx context.Context) error {
	ctx, cancel := s.withdrawDeadline(ctx)
	defer cancel()
	return s.stop(ctx)
}

// stopBudget bounds stopping: the graceful-shutdown wait, when on, comes
// before the withdrawals and must not eat their WithdrawTimeout.
func (s *Speaker) stopBudget() time.Duration {
	if s.opts.GracefulShutdown {
		return s.opts.GracefulShutdownWait + s.opts.WithdrawTimeout
	}
	return s.opts.WithdrawTimeout
}

// withdrawDeadline ends ctx stopBudget from now on the injected clock.
func (s *Speaker) withdrawDeadline(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	t := s.opts.Clock.NewTimer(s.stopBudget())
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-t.C():
			cancel()
		case <-stopped:
		}
	}()
	return ctx, func() {
		t.Stop()
		close(stopped)
		wg.Wait()
		cancel()
	}
}

// Ready is closed once Run accepts Set. It stays open when Run fails to
// start, so a caller also waits for Run to return.
func (s *Speaker) Ready() <-chan struct{} { return s.ready }

// Established reports whether the session of peer is established.
func (s *Speaker) Established(peer string) bool {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.up[peer]
}

// Set makes the server's sessions and paths match d, changing only what
// differs: a session whose settings change is updated in place when GoBGP
// can (timers, which apply from its next connection, and multi-hop), else
// only that session is reset; paths are
// added, replaced or withdrawn per session. The returned error joins a
// *PeerError per session that is refused or runs with a limitation (see
// PeerErrors) and any failure of GoBGP itself, after which a later Set
// retries what is still missing.
func (s *Speaker) Set(d bgpspec.Desired) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return ErrNotRunning
	}
	// Kept for relink, which reads it later: a copy, since callers may
	// reuse d's slices (the tests change a session in place and Set it
	// again).
	s.last = cloneDesired(d)
	s.findLinkRouters()
	return s.apply(s.last)
}

func cloneDesired(d bgpspec.Desired) bgpspec.Desired {
	out := bgpspec.Desired{Sessions: slices.Clone(d.Sessions), Paths: slices.Clone(d.Paths)}
	for i, p := range out.Paths {
		out.Paths[i].Services, out.Paths[i].Peers, out.Paths[i].Communities = slices.Clone(p.Services), slices.Clone(p.Peers), slices.Clone(p.Communities)
	}
	return out
}

// relink looks again for the routers of unnumbered sessions and applies
// the last Desired again when one was found or changed.
func (s *Speaker) relink() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running || !s.findLinkRouters() {
		return
	}
	if err := s.apply(s.last); err != nil {
		// The next Set reports per-peer problems as Events; here they
		// are only logged.
		s.opts.Log.Info("applying the BGP configuration again after an unnumbered session's router changed", "reason", err.Error())
	}
}

// linkAdvertEvery: an established unnumbered session's router hears this
// node's Router Advertisement every 10 LinkIntervals (10 s by default,
// FRR's own interval for its unnumbered peers), so a router that restarts
// finds the node again.
const linkAdvertEvery = 10

// findLinkRouters asks for the router of every unnumbered session of the
// last Desired, tells it this node's address (advertiseOnLinks), and
// reports whether a router was found or changed. A router already known
// is kept while a lookup fails: its session is the better witness. Caller
// holds mu.
func (s *Speaker) findLinkRouters() bool {
	changed := false
	seen := map[string]bool{}
	s.linkTicks++
	for _, ss := range s.last.Sessions {
		iface := ss.Interface
		if iface == "" || seen[iface] {
			continue
		}
		seen[iface] = true
		if !s.Established(ss.Peer) || s.linkTicks%linkAdvertEvery == 0 {
			err := s.opts.AdvertiseOnLink(iface)
			if err != nil && s.linkErrs[iface] != err.Error() {
				s.opts.Log.Info("cannot send a Router Advertisement for an unnumbered session", "interface", iface, "peer", ss.Peer, "reason", err.Error())
			}
			s.linkErrs[iface] = ""
			if err != nil {
				s.linkErrs[iface] = err.Error()
			}
		}
		old := s.links[iface]
		local, a, err := s.opts.FindLinkRouter(iface)
		switch {
		case err == nil && (a != old.Addr || local != old.Local):
			s.opts.Log.Info("router found on an unnumbered session's link", "interface", iface, "address", a, "was", old.Addr, "local", local)
			s.links[iface], changed = linkPeer{Addr: a, Local: local}, true
		case err != nil && !old.Addr.IsValid():
			s.links[iface] = linkPeer{Err: err}
		}
	}
	for iface := range s.links {
		if !seen[iface] {
			delete(s.links, iface)
			delete(s.linkErrs, iface)
		}
	}
	return changed
}

// apply makes the server match d. Caller holds mu.
func (s *Speaker) apply(d bgpspec.Desired) error {
	p := compile(d, s.opts.NodeAddresses, s.links)
	var errs []error
	for _, pe := range p.problems {
		errs = append(errs, pe)
	}
	if len(p.ignored) > 0 {
		s.opts.Log.Info("sessions ask for different router IDs; one server has one", "routerID", p.routerID,
			"from", p.routerIDFrom, "ignoredFor", p.ignored)
	}
	ctx := context.Background()
	if len(p.neighbors) > 0 && (!s.started || p.routerID != s.routerID) {
		if err := s.start(ctx, p); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.sessions)) {
		if n, ok := p.neighbors[name]; !ok || n.Address != s.sessions[name].n.Address {
			if err := s.removeSession(ctx, name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.neighbors)) {
		if err := s.applySession(ctx, p.neighbors[name]); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.applyRoutes(ctx, name, p.routes[name], false); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.applyBFD()...)
	return errors.Join(errs...)
}

// applyBFD runs BFD for every session that has it, and no other. Caller
// holds mu.
func (s *Speaker) applyBFD() []error {
	want := map[bfd.Peer]bfd.Config{}
	names := map[bfd.Peer]string{}
	for name, ss := range s.sessions {
		if ss.n.BFD.On {
			want[ss.n.BFD.Peer], names[ss.n.BFD.Peer] = ss.n.BFD.Config, name
		}
	}
	s.bfdNames = names
	for name := range s.held {
		if _, ok := s.sessions[name]; !ok {
			delete(s.held, name)
		}
	}
	var errs []error
	for _, err := range bfd.PeerErrors(s.bfd.Set(want)) {
		errs = append(errs, &PeerError{Peer: names[err.Peer], Err: fmt.Errorf("BFD: %w", err.Err)})
	}
	return errs
}

// onBFD makes a session follow its BFD as FRR's bgpd does with its own
// peers: BFD going down from Up resets an established session, which is
// then held down until BFD is Up again (or BFDHoldLimit passes,
// endStaleHolds). A session BFD has not taken down connects whatever its
// BFD's state: a router may create its BFD session only once the BGP
// one is established (FRR's dynamic neighbours do), so waiting for BFD
// first would keep both down for good. Nor does a BFD session the router
// takes down administratively change anything: FRR re-creates its BFD
// session whenever its BGP connection's source address changes.
func (s *Speaker) onBFD(ev bfd.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, ok := s.bfdNames[ev.Peer]
	if !ok || !s.running || s.sessions[name] == nil {
		return
	}
	_, held := s.held[name]
	switch up := ev.To == bfd.StateUp; {
	case !up && ev.RemoteAdminDown:
		// RFC 5882 §3.2: the router took BFD down on purpose (FRR does
		// each time its BGP connection's source changes); the path is
		// fine.
		s.opts.Log.Info("the router took BFD down administratively; the BGP session is kept", "peer", name)
	case up && held:
		delete(s.held, name)
		s.setAdminState(context.Background(), name, true, "")
		if s.opts.OnBFDChange != nil {
			s.opts.OnBFDChange(name, true, ev.Diag.String())
		}
	case !up && ev.From == bfd.StateUp && !held && s.Established(name):
		s.held[name] = s.opts.Clock.Now()
		s.setAdminState(context.Background(), name, false, ev.Diag.String())
		if s.opts.OnBFDChange != nil {
			s.opts.OnBFDChange(name, false, ev.Diag.String())
		}
	}
}

// endStaleHolds lets connect again the sessions BFD has held down for
// BFDHoldLimit without coming Up: their routers may bring BFD up only
// with an established BGP session.
func (s *Speaker) endStaleHolds() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	now := s.opts.Clock.Now()
	for _, name := range slices.Sorted(maps.Keys(s.held)) {
		if since := s.held[name]; now.Sub(since) >= s.opts.BFDHoldLimit {
			delete(s.held, name)
			s.opts.Log.Info("BFD has stayed down: letting the BGP session connect again, for a router that runs BFD only with an established session", "peer", name, "heldFor", now.Sub(since))
			s.setAdminState(context.Background(), name, true, "")
		}
	}
}

// setAdminState enables or disables a session in GoBGP. Caller holds mu.
func (s *Speaker) setAdminState(ctx context.Context, name string, up bool, why string) {
	addr := s.sessions[name].n.Address.String()
	var err error
	if up {
		err = s.srv.EnablePeer(ctx, &api.EnablePeerRequest{Address: addr})
		s.opts.Log.Info("BGP session enabled", "peer", name)
	} else {
		err = s.srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: addr, Communication: "BFD down: " + why})
		s.opts.Log.Info("BFD is down: BGP session reset and held down", "peer", name, "diagnostic", why)
	}
	if err != nil {
		s.opts.Log.Error(err, "following BFD", "peer", name, "up", up)
	}
}

// start (re)starts GoBGP with p's router ID. A running server is stopped
// first, which resets every session: GoBGP cannot change its router ID in
// place.
func (s *Speaker) start(ctx context.Context, p plan) error {
	if s.started {
		s.opts.Log.Info("router ID changes: restarting every BGP session", "from", s.routerID, "to", p.routerID)
		for _, name := range slices.Sorted(maps.Keys(s.sessions)) {
			s.forget(name)
		}
		s.sessions = map[string]*session{}
		if err := s.srv.StopBgp(ctx, &api.StopBgpRequest{}); err != nil {
			return fmt.Errorf("bgp: stopping GoBGP to change its router ID: %w", err)
		}
		s.started = false
	}
	err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: p.asn, RouterId: p.routerID.String(), ListenPort: s.listenPort(),
	}})
	if err != nil {
		return fmt.Errorf("bgp: starting GoBGP with router ID %s: %w", p.routerID, err)
	}
	s.started, s.routerID = true, p.routerID
	s.opts.Log.Info("BGP speaker started", "routerID", p.routerID, "asn", p.asn, "listenPort", s.opts.ListenPort)
	return nil
}

// listenPort is ListenPort as GoBGP takes it: -1 for no listener (its 0
// would mean 179).
func (s *Speaker) listenPort() int32 {
	if s.opts.ListenPort == 0 {
		return -1
	}
	return int32(s.opts.ListenPort)
}

// applySession adds the session or updates it when it changed.
func (s *Speaker) applySession(ctx context.Context, n neighbor) error {
	ss := s.sessions[n.Peer]
	if ss != nil {
		if ss.n == n {
			return nil
		}
		if _, err := s.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: apiPeer(n, vrfName(ss.vrf))}); err != nil {
			return fmt.Errorf("bgp: updating session %q: %w", n.Peer, err)
		}
		s.opts.Log.Info("BGP session updated", "peer", n.Peer, "address", n.Address)
		ss.n = n
		// An update may re-create the neighbour enabled: a session BFD
		// holds stays down, unless it no longer runs BFD.
		if _, held := s.held[n.Peer]; held {
			if n.BFD.On {
				s.setAdminState(ctx, n.Peer, false, "the session was updated")
			} else {
				delete(s.held, n.Peer)
				s.setAdminState(ctx, n.Peer, true, "")
			}
		}
		s.stateMu.Lock()
		old := s.labels[n.Peer]
		s.labels[n.Peer] = peerLabel(n)
		s.stateMu.Unlock()
		if old != peerLabel(n) {
			s.opts.Metrics.BGPPeerRemoved(old)
		}
		return nil
	}
	id := s.nextVRF
	s.nextVRF++
	vrf, err := apiVRF(id)
	if err != nil {
		return fmt.Errorf("bgp: session %q: %w", n.Peer, err)
	}
	if err := s.srv.AddVrf(ctx, &api.AddVrfRequest{Vrf: vrf}); err != nil {
		return fmt.Errorf("bgp: adding the table of session %q: %w", n.Peer, err)
	}
	if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(n, vrf.Name)}); err != nil {
		_ = s.srv.DeleteVrf(ctx, &api.DeleteVrfRequest{Name: vrf.Name})
		return fmt.Errorf("bgp: adding session %q: %w", n.Peer, err)
	}
	s.sessions[n.Peer] = &session{n: n, vrf: id, routes: map[netip.Prefix]route{}}
	s.stateMu.Lock()
	s.byAddr[n.Address] = n.Peer
	s.anyASN[n.Peer] = n.PeerASN == 0
	s.labels[n.Peer] = peerLabel(n)
	s.stateMu.Unlock()
	s.opts.Log.Info("BGP session added", "peer", n.Peer, "address", n.Address, "port", n.Port)
	return nil
}

// removeSession closes the session (Cease) and drops its table.
func (s *Speaker) removeSession(ctx context.Context, name string) error {
	ss := s.sessions[name]
	if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: ss.n.Address.String()}); err != nil {
		return fmt.Errorf("bgp: removing session %q: %w", name, err)
	}
	if err := s.srv.DeleteVrf(ctx, &api.DeleteVrfRequest{Name: vrfName(ss.vrf)}); err != nil {
		s.opts.Log.Error(err, "dropping the table of a removed session", "peer", name)
	}
	delete(s.sessions, name)
	s.forget(name)
	s.opts.Log.Info("BGP session removed", "peer", name)
	return nil
}

// forget drops a removed session's state and metric series.
func (s *Speaker) forget(name string) {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.stateMu.Lock()
	wasUp := s.up[name]
	label := s.labelLocked(name)
	delete(s.labels, name)
	delete(s.routes, name)
	for a, p := range s.byAddr {
		if p == name {
			delete(s.byAddr, a)
		}
	}
	delete(s.up, name)
	delete(s.anyASN, name)
	delete(s.counted, name)
	s.pending = slices.DeleteFunc(s.pending, func(w withdrawal) bool { return w.peer == name })
	closed := s.closed
	s.stateMu.Unlock()
	if wasUp && !closed && s.opts.OnSessionChange != nil {
		s.opts.OnSessionChange(name, false)
	}
	s.opts.Metrics.BGPPeerRemoved(label)
}

// peerLabel names a session in metrics as MetalLB does: the peer's address
// and port ("192.0.2.1:179", "fd00::1:179"), so dashboards and alerts
// written for MetalLB keep their label values.
// An unnumbered session is labelled by its interface, as FRR names it.
func peerLabel(n neighbor) string {
	if n.Interface != "" {
		return n.Interface
	}
	return fmt.Sprintf("%s:%d", n.Address, n.Port)
}

// labelLocked is the peer's metrics label; stateMu must be held.
func (s *Speaker) labelLocked(name string) string {
	if l, ok := s.labels[name]; ok {
		return l
	}
	return name
}

// applyRoutes makes the session's table hold want: withdrawals first, so
// they leave as early as possible, then new and changed paths. A path
// replaced in place is one UPDATE to this peer only.
func (s *Speaker) applyRoutes(ctx context.Context, name string, want map[netip.Prefix]route, gshut bool) error {
	ss := s.sessions[name]
	vrf := vrfName(ss.vrf)
	var errs []error
	var gone []route
	for _, pfx := range slices.SortedFunc(maps.Keys(ss.routes), netip.Prefix.Compare) {
		if _, ok := want[pfx]; !ok {
			gone = append(gone, ss.routes[pfx])
		}
	}
	if len(gone) > 0 {
		track := s.beginWithdraw(ctx, name, gone)
		var withdrawn []netip.Prefix
		for _, r := range gone {
			path, err := apiPath(r, true, false)
			if err == nil {
				err = s.srv.DeletePath(ctx, &api.DeletePathRequest{VrfId: vrf, Path: path})
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("bgp: withdrawing %s from %q: %w", r.Prefix, name, err))
				continue
			}
			delete(ss.routes, r.Prefix)
			withdrawn = append(withdrawn, r.Prefix)
		}
		track(withdrawn)
	}
	for _, pfx := range slices.SortedFunc(maps.Keys(want), netip.Prefix.Compare) {
		r := want[pfx]
		if old, ok := ss.routes[pfx]; ok && old.equal(r) && !gshut {
			continue
		}
		path, err := apiPath(r, false, gshut)
		if err == nil {
			_, err = s.srv.AddPath(ctx, &api.AddPathRequest{VrfId: vrf, Path: path})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp: advertising %s to %q: %w", r.Prefix, name, err))
			continue
		}
		ss.routes[pfx] = r
	}
	s.stateMu.Lock()
	label, up := s.labelLocked(name), s.up[name]
	s.routes[name] = len(ss.routes)
	s.stateMu.Unlock()
	s.opts.Metrics.BGPAnnouncedPrefixes(label, len(ss.routes))
	s.opts.Metrics.BGPPendingPrefixes(label, pendingPrefixes(up, len(ss.routes)))
	return errors.Join(errs...)
}
