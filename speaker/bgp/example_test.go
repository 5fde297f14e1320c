package bgp_test

import (
	"context"
	"errors"
	"net/netip"

	"github.com/go-logr/logr"

	"github.com/ironlb/ironlb/speaker/bgp"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// The wiring runs the speaker for the process's life and calls Set with
// every new Desired; per-session problems become Events on the BGPPeer.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s := bgp.New(bgp.Options{
		Log:           logr.Discard(),
		NodeAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.21"), netip.MustParseAddr("2001:db8::21")},
		OnSessionChange: func(peer string, established bool) {
			// write ServiceBGPStatus / the peer's status
		},
	})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }() // withdraws and closes when ctx ends
	<-s.Ready()

	err := s.Set(bgpspec.Desired{ /* from the agent */ })
	for _, pe := range bgp.PeerErrors(err) {
		_ = pe.Peer    // the BGPPeer to raise a Warning Event on
		_ = pe.Refused // not configured at all, or running degraded (BFD)
	}
	if errors.Is(err, bgp.ErrNotRunning) {
		// Run has not started yet, or has stopped: try again next pass
	}

	stop()
	<-done
}
