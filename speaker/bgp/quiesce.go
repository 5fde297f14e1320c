package bgp

import (
	"context"
	"errors"
	"fmt"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"k8s.io/utils/clock"
)

// stopCommunication is the shutdown communication (RFC 9003) in the Cease
// every peer gets when the speaker stops.
const stopCommunication = "IronLB speaker stopping"

// quiesce takes every neighbour of srv administratively down (a Cease to
// each) and waits, polling every interval on clk and bounded by ctx, until
// no session is left. StopBgp then has nothing to tear down: it clears
// GoBGP's global configuration while the receive loops of sessions it is
// still closing may read it (a data race inside GoBGP, seen under -race
// when a server stopped with sessions up); a session that has left every
// state but Idle has ended those loops, and listing the peers orders their
// end before StopBgp.
func quiesce(ctx context.Context, srv *server.BgpServer, clk clock.WithTicker, interval time.Duration) error {
	var addrs []string
	if err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		addrs = append(addrs, p.Conf.NeighborAddress)
	}); err != nil {
		return fmt.Errorf("bgp: listing the peers to shut them down: %w", err)
	}
	var errs []error
	for _, a := range addrs {
		if err := srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: a, Communication: stopCommunication}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: shutting down the session with %s: %w", a, err))
		}
	}
	for {
		var busy []string
		if err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.State != nil && p.State.SessionState != api.PeerState_IDLE {
				busy = append(busy, p.Conf.NeighborAddress)
			}
		}); err != nil {
			return errors.Join(append(errs, fmt.Errorf("bgp: listing the peers: %w", err))...)
		}
		if len(busy) == 0 {
			return errors.Join(errs...)
		}
		t := clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(append(errs, fmt.Errorf("bgp: sessions with %v still open: %w", busy, ctx.Err()))...)
		case <-t.C():
		}
	}
}
