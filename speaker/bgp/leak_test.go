package bgp

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// ours lists the goroutines of GoBGP and of this package, except GoBGP's
// main loops: BgpServer.Serve has no way to end (see Run).
func ours() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "(*BgpServer).Serve("), strings.Contains(g, "bgp.ours()"):
		case strings.Contains(g, "osrg/gobgp"), strings.Contains(g, "eapache/channels"), strings.Contains(g, "ironlb/speaker/bgp."):
			out = append(out, g)
		}
	}
	return out
}

// Tests run one at a time (see router_test.go), so every goroutine this one
// sees is its own or an earlier test's that has not ended yet.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	func() {
		lo := newLoopback(t)
		r := newRouter(t, externalASN, "10.255.4.2", lo.port, lo.addr(2))
		s := New(Options{NodeAddresses: []netip.Addr{netip.MustParseAddr("10.255.4.1")}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		<-s.Ready()
		err := s.Set(bgpspec.Desired{
			Sessions: []bgpspec.Session{{Peer: "r", MyASN: ourASN, PeerASN: externalASN, Address: lo.addr(2),
				Port: uint16(lo.port), SourceAddress: lo.speakerAddr(), ConnectTime: 1e9}},
			Paths: []bgpspec.Path{{Prefix: pfx("192.0.2.10/32"), Peers: []string{"r"}}},
		})
		if err != nil {
			t.Fatalf("Set: %v", err)
		}
		r.expect(lo.speakerAddr(), ourASN, "")
		eventually(t, "the path arrives", func() bool { return len(r.paths(lo.speakerAddr())) == 1 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err := r.srv.StopBgp(context.Background(), &api.StopBgpRequest{}); err != nil {
			t.Fatalf("stopping the router: %v", err)
		}
	}()
	// GoBGP ends some goroutines (watchers, connection handlers) after
	// the call that stops them returns.
	deadline := time.Now().Add(30 * time.Second)
	for left := ours(); len(left) > 0; left = ours() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlived Run:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
