package bgp

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/metrics"
)

// onEvent receives GoBGP's session state changes, on GoBGP's goroutine.
func (s *Speaker) onEvent(r *api.WatchEventResponse) {
	st := r.GetPeer().GetPeer().GetState()
	if st == nil {
		return
	}
	addr, err := netip.ParseAddr(st.NeighborAddress)
	if err != nil {
		return
	}
	up := st.SessionState == api.PeerState_ESTABLISHED
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.stateMu.Lock()
	name, ok := s.byAddr[addr.Unmap()]
	if !ok || s.closed || s.up[name] == up {
		s.stateMu.Unlock()
		return
	}
	s.up[name] = up
	label, routes := s.labelLocked(name), s.routes[name]
	internalAsExternal := up && s.anyASN[name] && st.PeerAsn == st.LocalAsn
	if !up {
		// Nothing more will be sent on this session: a withdrawal
		// still queued dies with it, and the peer drops our paths.
		s.pending = slices.DeleteFunc(s.pending, func(w withdrawal) bool { return w.peer == name })
	}
	s.stateMu.Unlock()
	if up {
		s.opts.Log.Info("BGP session established", "peer", name, "address", addr, "peerASN", st.PeerAsn, "localASN", st.LocalAsn)
	} else {
		s.opts.Log.Info("BGP session down", "peer", name, "address", addr, "state", st.SessionState.String())
	}
	if internalAsExternal {
		s.opts.Log.Info("dynamicASN is external but the peer announces our own AS: GoBGP cannot refuse it, the session runs as iBGP",
			"peer", name, "asn", st.PeerAsn)
	}
	s.opts.Metrics.BGPSession(label, up)
	s.opts.Metrics.BGPPendingPrefixes(label, pendingPrefixes(up, routes))
	if s.opts.OnSessionChange != nil {
		s.opts.OnSessionChange(name, up)
	}
}

// pendingPrefixes: a peer whose session is down has been sent none of its
// prefixes; an established one is sent each as it is added.
func pendingPrefixes(up bool, routes int) int {
	if up {
		return 0
	}
	return routes
}

// messageCounts are GoBGP's message counters of one neighbour.
type messageCounts struct{ sent, received metrics.BGPMessages }

func readMessages(m *api.Messages) messageCounts {
	conv := func(c *api.Message) metrics.BGPMessages {
		return metrics.BGPMessages{Open: c.GetOpen(), Update: c.GetUpdate(), Notification: c.GetNotification(),
			Keepalive: c.GetKeepalive(), RouteRefresh: c.GetRefresh(), Total: c.GetTotal()}
	}
	return messageCounts{sent: conv(m.GetSent()), received: conv(m.GetReceived())}
}

// since is how many messages of each type were counted after last. A
// neighbour's counters run across its reconnections and start again from
// zero when it is added anew (a BGPPeer changed): a counter below its last
// value has started again.
func (c messageCounts) since(last messageCounts) messageCounts {
	diff := func(now, was metrics.BGPMessages) metrics.BGPMessages {
		d := func(n, w uint64) uint64 {
			if n < w {
				return n
			}
			return n - w
		}
		return metrics.BGPMessages{Open: d(now.Open, was.Open), Update: d(now.Update, was.Update), Notification: d(now.Notification, was.Notification),
			Keepalive: d(now.Keepalive, was.Keepalive), RouteRefresh: d(now.RouteRefresh, was.RouteRefresh), Total: d(now.Total, was.Total)}
	}
	return messageCounts{sent: diff(c.sent, last.sent), received: diff(c.received, last.received)}
}

// poll reads every neighbour's message counters: they feed the message
// metrics, and the UPDATEs sent complete the withdrawals whose UPDATEs
// have been written.
func (s *Speaker) poll() {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	counts := map[netip.Addr]messageCounts{}
	err := s.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		st := p.GetState()
		if a, err := netip.ParseAddr(st.GetNeighborAddress()); err == nil && st.GetMessages().GetSent() != nil {
			counts[a.Unmap()] = readMessages(st.GetMessages())
		}
	})
	if err != nil {
		s.opts.Log.V(1).Info("reading BGP message counters", "error", err.Error())
		return
	}
	now := s.opts.Clock.Now()
	type done struct {
		label string
		d     time.Duration
	}
	var finished []done
	added := map[string]messageCounts{}
	s.stateMu.Lock()
	if s.closed {
		s.stateMu.Unlock()
		return
	}
	byPeer := map[string]uint64{}
	for a, c := range counts {
		name, ok := s.byAddr[a]
		if !ok {
			continue
		}
		byPeer[name] = c.sent.Update
		if d := c.since(s.counted[name]); d != (messageCounts{}) {
			added[s.labelLocked(name)] = d
		}
		s.counted[name] = c
	}
	s.pending = slices.DeleteFunc(s.pending, func(w withdrawal) bool {
		if n, ok := byPeer[w.peer]; ok && n >= w.target {
			finished = append(finished, done{s.labelLocked(w.peer), now.Sub(w.decided)})
			return true
		}
		return false
	})
	s.stateMu.Unlock()
	for _, label := range slices.Sorted(maps.Keys(added)) {
		s.opts.Metrics.BGPMessages(label, added[label].sent, added[label].received)
	}
	for _, f := range finished {
		s.opts.Metrics.BGPWithdrawn(f.label, f.d)
	}
}

func (s *Speaker) pendingPeers() []string {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	var out []string
	for _, w := range s.pending {
		out = append(out, w.peer)
	}
	return out
}

// waitWithdrawn polls until every pending withdrawal has been written or
// its session went down, or ctx ends.
func (s *Speaker) waitWithdrawn(ctx context.Context) error {
	for {
		s.poll()
		waiting := s.pendingPeers()
		if len(waiting) == 0 {
			return nil
		}
		t := s.opts.Clock.NewTimer(s.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			s.opts.Log.Info("stopped waiting for withdrawals to be sent", "peers", slices.Compact(slices.Sorted(slices.Values(waiting))))
			return ctx.Err()
		case <-t.C():
		}
	}
}

// stop withdraws everything, waits until the withdrawals are sent (or ctx
// ends) and closes every session with a Cease. Later calls wait for the
// first to finish.
func (s *Speaker) stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.running {
		srv := s.srv
		s.mu.Unlock()
		if srv != nil {
			<-s.done
		}
		return nil
	}
	s.running = false
	close(s.stopping)
	defer close(s.done)
	defer s.mu.Unlock()

	var errs []error
	if s.started {
		if s.opts.GracefulShutdown && s.anyEstablished() {
			for _, ss := range sortedByName(s.sessions) {
				if err := s.applyRoutes(ctx, ss.n.Peer, maps.Clone(ss.routes), true); err != nil {
					errs = append(errs, err)
				}
			}
			s.opts.Log.Info("graceful shutdown: paths marked, waiting before withdrawing them", "for", s.opts.GracefulShutdownWait)
			t := s.opts.Clock.NewTimer(s.opts.GracefulShutdownWait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C():
			}
		}
		for _, ss := range sortedByName(s.sessions) {
			if err := s.applyRoutes(ctx, ss.n.Peer, nil, false); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.waitWithdrawn(ctx); err != nil {
			errs = append(errs, errors.New("bgp: closing the sessions before every withdrawal was sent: "+err.Error()))
		}
		// Every session gets its Cease, and has ended, before StopBgp.
		if err := quiesce(ctx, s.srv, s.opts.Clock, s.opts.PollInterval); err != nil {
			errs = append(errs, err)
		}
		if err := s.srv.StopBgp(context.Background(), &api.StopBgpRequest{}); err != nil {
			errs = append(errs, err)
		}
		s.started = false
	}
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.stateMu.Lock()
	s.closed = true
	var wasUp []string
	labels := map[string]string{}
	for name, up := range s.up {
		if up {
			wasUp = append(wasUp, name)
			labels[name] = s.labelLocked(name)
		}
	}
	clear(s.up)
	s.stateMu.Unlock()
	slices.Sort(wasUp)
	for _, name := range wasUp {
		s.opts.Metrics.BGPSession(labels[name], false)
		if s.opts.OnSessionChange != nil {
			s.opts.OnSessionChange(name, false)
		}
	}
	s.opts.Log.Info("BGP speaker stopped")
	return errors.Join(errs...)
}

func (s *Speaker) anyEstablished() bool {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	for _, up := range s.up {
		if up {
			return true
		}
	}
	return false
}

// beginWithdraw reads the peer's UPDATE counter and Adj-RIB-Out before
// the paths of gone are withdrawn and returns the function that records
// the batch once the withdrawn ones are queued. Each withdrawal of a path
// the peer was sent is one UPDATE; a path it was never sent (its family
// not negotiated on the session: an IPv4 VIP on a session to a router's
// IPv6 address that offers IPv6 only) sends nothing and is not waited
// for. Messages queued before the read and not yet written (a session's
// initial table, just after it came up) are indistinguishable from ours in
// the count, so the wait can end early by that many messages; GoBGP offers
// no per-message event.
func (s *Speaker) beginWithdraw(ctx context.Context, name string, gone []route) func(withdrawn []netip.Prefix) {
	decided := s.opts.Clock.Now()
	if !s.Established(name) {
		return func([]netip.Prefix) {}
	}
	addr := s.sessions[name].n.Address
	base, ok := s.sentUpdates(ctx, addr)
	if !ok {
		return func([]netip.Prefix) {}
	}
	sent := s.advertised(ctx, addr, gone)
	return func(withdrawn []netip.Prefix) {
		n := 0
		for _, p := range withdrawn {
			if sent[p] {
				n++
			}
		}
		if n == 0 {
			return
		}
		s.stateMu.Lock()
		s.pending = append(s.pending, withdrawal{peer: name, target: base + uint64(n), decided: decided})
		s.stateMu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// advertised returns which prefixes of routes are in the neighbour's
// Adj-RIB-Out. A family whose table cannot be read (not negotiated with
// the neighbour) counts as holding none.
func (s *Speaker) advertised(ctx context.Context, addr netip.Addr, routes []route) map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	want := map[netip.Prefix]bool{}
	fams := map[*api.Family]bool{}
	for _, r := range routes {
		want[r.Prefix] = true
		if r.Prefix.Addr().Is4() {
			fams[familyV4] = true
		} else {
			fams[familyV6] = true
		}
	}
	for fam := range fams {
		_ = s.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_ADJ_OUT, Name: addr.String(), Family: fam}, func(d *api.Destination) {
			if p, err := netip.ParsePrefix(d.Prefix); err == nil && want[p] {
				out[p] = true
			}
		})
	}
	return out
}

// sentUpdates reads how many UPDATEs GoBGP has written to the neighbour.
func (s *Speaker) sentUpdates(ctx context.Context, addr netip.Addr) (uint64, bool) {
	var n uint64
	found := false
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
		if p.State != nil && p.State.Messages != nil && p.State.Messages.Sent != nil {
			n, found = p.State.Messages.Sent.Update, true
		}
	})
	return n, err == nil && found
}

// sortedByName orders sessions for deterministic logs and calls.
func sortedByName(m map[string]*session) []*session {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *session) int { return cmp.Compare(a.n.Peer, b.n.Peer) })
	return out
}
