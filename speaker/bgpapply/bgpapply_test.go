package bgpapply

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/speaker/bgp"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// peerReader serves fixed BGPPeers.
type peerReader struct {
	client.Reader
	peers map[string]v1beta2.BGPPeer
}

func (r peerReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	p, ok := r.peers[key.Name]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Group: "metallb.io", Resource: "bgppeers"}, key.Name)
	}
	*obj.(*v1beta2.BGPPeer) = p
	return nil
}

func TestWithoutPeerErrors(t *testing.T) {
	gobgp := errors.New("gobgp: AddPath failed")
	bfd := &bgp.PeerError{Peer: "tor", Err: bgp.ErrBFDEchoUnsupported}
	refused := &bgp.PeerError{Peer: "bad", Refused: true, Err: errors.New("no address")}
	tests := []struct {
		name string
		in   error
		want error
	}{
		{"nil stays nil", nil, nil},
		{"only per-peer problems: nothing to retry", errors.Join(bfd, refused), nil},
		{"a failure of GoBGP is kept", errors.Join(bfd, gobgp, refused), gobgp},
		{"an error that is not joined is kept", gobgp, gobgp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withoutPeerErrors(tt.in)
			if (got == nil) != (tt.want == nil) || (got != nil && !errors.Is(got, tt.want)) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBGPSetterReportsPeerProblemsOnce runs the real BGP speaker: before
// Run, Set answers ErrNotRunning (the loop retries); a session naming a
// BFD profile asking for echo mode runs BFD without it, which is an Event
// on the BGPPeer, sent once however many times Set is called, and not an
// error to retry.
func TestBGPSetterReportsPeerProblemsOnce(t *testing.T) {
	sp := bgp.New(bgp.Options{Log: logr.Discard(), NodeAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, BFDSockets: anyPortSockets{}})
	rec := events.NewFakeRecorder(10)
	peers := map[string]v1beta2.BGPPeer{"tor": {ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: "tor"}}}
	s := &Setter{Speaker: sp, Client: peerReader{peers: peers}, Namespace: "metallb-system", Recorder: rec, Log: logr.Discard()}
	d := bgpspec.Desired{Sessions: []bgpspec.Session{{Peer: "tor", MyASN: 64500, PeerASN: 64501,
		Address: netip.MustParseAddr("127.0.0.1"), Port: 1, BFDProfile: "fast",
		BFD: bgpspec.BFD{ReceiveInterval: time.Second, TransmitInterval: time.Second, DetectMultiplier: 3, EchoMode: true}}}}

	if err := s.Set(d); !errors.Is(err, bgp.ErrNotRunning) {
		t.Fatalf("Set before Run: %v, want ErrNotRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	<-sp.Ready()

	for i := range 2 {
		if err := s.Set(d); err != nil {
			t.Fatalf("Set %d: %v, want nil (echo mode missing is not retried)", i, err)
		}
	}
	if len(rec.Events) != 1 {
		var all []string
		for len(rec.Events) > 0 {
			all = append(all, <-rec.Events)
		}
		t.Fatalf("%d events, want 1: %q", len(all), all)
	}
	// The session runs: not refused, not fully configured.
	if e := <-rec.Events; !strings.HasPrefix(e, "Warning "+compat.ReasonBGPPeerNotFullyConfigured+" ") || !strings.Contains(e, "echoMode") {
		t.Errorf("event %q, want a Warning %s about echoMode", e, compat.ReasonBGPPeerNotFullyConfigured)
	}
}

// anyPortSockets opens BFD's sockets on ports the kernel picks, so a unit
// test binds no well-known port.
type anyPortSockets struct{}

func (anyPortSockets) ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	return net.ListenUDP(network, &net.UDPAddr{IP: laddr.IP})
}

func (anyPortSockets) DialUDP(network string, laddr, raddr *net.UDPAddr) (*net.UDPConn, error) {
	return net.DialUDP(network, &net.UDPAddr{IP: laddr.IP}, raddr)
}

// nodeReader serves one Node, or none.
type nodeReader struct {
	client.Reader
	node *corev1.Node
}

func (r nodeReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if r.node == nil {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, key.Name)
	}
	*obj.(*corev1.Node) = *r.node
	return nil
}

func TestNodeAddresses(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "n1"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.1"},
		{Type: corev1.NodeInternalIP, Address: "fd00::1"},
		{Type: corev1.NodeInternalIP, Address: "10.0.0.1"},
	}}}
	tests := []struct {
		name           string
		node           *corev1.Node
		host, bindAddr string
		want           string
	}{
		{"--host first, then internal, external, --ml-bindaddr; no duplicates", node, "10.0.0.1", "10.0.0.9",
			"[10.0.0.1 fd00::1 203.0.113.1 10.0.0.9]"},
		{"without --host the Node's internal IPv4 address leads", node, "", "", "[fd00::1 10.0.0.1 203.0.113.1]"},
		{"no Node: --ml-bindaddr still gives a router ID", nil, "", "10.0.0.9", "[10.0.0.9]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NodeAddresses(context.Background(), nodeReader{node: tt.node}, "n1", tt.host, tt.bindAddr, logr.Discard())
			if s := fmt.Sprint(got); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

// TestBFDChangesAreEventsOnTheBGPPeer: BFD taking a session down is a
// Warning naming BFD's diagnostic, letting it up a Normal Event; a peer
// that cannot be read gets none.
func TestBFDChangesAreEventsOnTheBGPPeer(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	peers := map[string]v1beta2.BGPPeer{"tor": {ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: "tor"}}}
	s := &Setter{Client: peerReader{peers: peers}, Namespace: "metallb-system", Recorder: rec, Log: logr.Discard()}
	s.BFDChanged("tor", false, "control detection time expired")
	s.BFDChanged("tor", true, "none")
	s.BFDChanged("gone", false, "control detection time expired")
	want := []string{
		"Warning " + compat.ReasonBFDSessionDown + " BFD session down (control detection time expired): the BGP session was reset and is held down until BFD is Up again (at most 10s)",
		"Normal " + compat.ReasonBFDSessionUp + " BFD session Up: the BGP session is enabled",
	}
	var got []string
	for len(rec.Events) > 0 {
		got = append(got, <-rec.Events)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
