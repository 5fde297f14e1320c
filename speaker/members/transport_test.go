package members

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
)

// TestTransportCarriesPacketsAndStreams: every packet reaching the socket
// is stamped by its sender's address before memberlist reads it, in its
// own size whatever came before it (one read buffer is reused), packets
// and streams go out and come in, and Shutdown stops both goroutines
// (goleak checks it).
func TestTransportCarriesPacketsAndStreams(t *testing.T) {
	heard := make(chan string, 4)
	tr, err := newTransport("127.0.0.1", 0, "self", make([]byte, 32), func(from string, at time.Time) {
		if !at.IsZero() {
			heard <- from
		}
	}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tr.Shutdown(); err != nil {
			t.Error(err)
		}
	}()
	ip, port, err := tr.FinalAdvertiseAddr("127.0.0.1", 0)
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || port != tr.port() {
		t.Fatalf("FinalAdvertiseAddr: %v %d %v, want 127.0.0.1 %d", ip, port, err, tr.port())
	}
	if _, _, err := tr.FinalAdvertiseAddr("0.0.0.0", 7946); err == nil {
		t.Error("FinalAdvertiseAddr took an unspecified address")
	}
	self := net.JoinHostPort("127.0.0.1", strconv.Itoa(tr.port()))

	sender, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to, _ := net.ResolveUDPAddr("udp", self)
	for _, payload := range []string{"a longer packet first", "short"} {
		if _, err := sender.WriteTo([]byte(payload), to); err != nil {
			t.Fatal(err)
		}
		select {
		case from := <-heard:
			if from != sender.LocalAddr().String() {
				t.Errorf("stamped as from %s, sent from %s", from, sender.LocalAddr())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the packet was never stamped")
		}
		select {
		case p := <-tr.PacketCh():
			if string(p.Buf) != payload || cap(p.Buf) != len(payload) || p.From.String() != sender.LocalAddr().String() {
				t.Errorf("memberlist read %q (capacity %d) from %s, sent %q from %s", p.Buf, cap(p.Buf), p.From, payload, sender.LocalAddr())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("memberlist never got the packet")
		}
	}

	// Out: a packet to the sender, by address and by memberlist.Address.
	if _, err := tr.WriteToAddress([]byte("answer"), memberlist.Address{Addr: sender.LocalAddr().String(), Name: "x"}); err != nil {
		t.Fatal(err)
	}
	_ = sender.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 64)
	if n, _, err := sender.ReadFrom(got); err != nil || string(got[:n]) != "answer" {
		t.Errorf("the sender read %q, %v", got[:n], err)
	}

	// Streams, both ways: a dial reaches the listener's StreamCh.
	c, err := tr.DialAddressTimeout(memberlist.Address{Addr: self}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("state")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	select {
	case in := <-tr.StreamCh():
		b, err := io.ReadAll(in)
		in.Close()
		if err != nil || !bytes.Equal(b, []byte("state")) {
			t.Errorf("the stream carried %q, %v", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stream accepted")
	}
}

// TestEcho: an echo naming the member is answered by its transport alone
// (nothing reaches memberlist), with the round trip, and each end hears
// the other; one naming another member or carrying another key's MAC is
// not answered, times out, and is not taken for a sign of life.
func TestEcho(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 1
	var mu sync.Mutex
	heard := map[string][]string{}
	start := func(name string, secret []byte) *transport {
		tr, err := newTransport("127.0.0.1", 0, name, secret, func(from string, _ time.Time) {
			mu.Lock()
			heard[name] = append(heard[name], from)
			mu.Unlock()
		}, logr.Discard())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Shutdown() })
		return tr
	}
	a, b := start("a", key), start("b", key)
	stranger := start("c", make([]byte, 32))
	bAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(b.port()))
	addrOf := func(tr *transport) string { return "127.0.0.1:" + strconv.Itoa(tr.port()) }

	took, err := a.echo("b", bAddr, time.Second)
	if err != nil || took <= 0 || took > time.Second {
		t.Fatalf("echo a→b: %v, %v", took, err)
	}
	mu.Lock()
	if want := []string{addrOf(a)}; !slices.Equal(heard["b"], want) || !slices.Equal(heard["a"], []string{addrOf(b)}) {
		t.Errorf("heard %v after one echo, want b hearing %v and a hearing %s", heard, want, addrOf(b))
	}
	clear(heard)
	mu.Unlock()
	for _, tc := range []struct {
		name string
		from *transport
		ask  string
	}{
		{"naming another member", a, "not-b"},
		{"with another key", stranger, "b"},
	} {
		if _, err := tc.from.echo(tc.ask, bAddr, 100*time.Millisecond); !errors.Is(err, errEchoTimeout) {
			t.Errorf("echo %s: %v, want a timeout", tc.name, err)
		}
	}
	select {
	case p := <-b.PacketCh():
		t.Errorf("an echo reached memberlist: %q", p.Buf)
	default:
	}
	mu.Lock()
	if len(heard) != 0 {
		t.Errorf("invalid echoes were heard as life: %v", heard)
	}
	mu.Unlock()
	a.mu.Lock()
	left := len(a.waiting)
	a.mu.Unlock()
	if left != 0 {
		t.Errorf("%d echoes still waiting after their answer or timeout", left)
	}
}

// TestEchoCodec: requests and answers parse back; a wrong name, key,
// length or byte is refused.
func TestEchoCodec(t *testing.T) {
	key, other := newEchoMACer(echoKey([]byte("k1"))), newEchoMACer(echoKey([]byte("k2")))
	req := appendEchoRequest(nil, key, "node-a", 42)
	if n, err := parseEchoRequest(req, key, "node-a"); err != nil || n != 42 {
		t.Fatalf("request: %d, %v", n, err)
	}
	ans := appendEchoAnswer(nil, key, 42)
	if n, err := parseEchoAnswer(ans, key); err != nil || n != 42 {
		t.Fatalf("answer: %d, %v", n, err)
	}
	flip := func(p []byte, i int) []byte {
		q := bytes.Clone(p)
		q[i] ^= 1
		return q
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"request for another name", func() error { _, err := parseEchoRequest(req, key, "node-b"); return err }()},
		{"request with another key", func() error { _, err := parseEchoRequest(req, other, "node-a"); return err }()},
		{"request with a nonce changed", func() error { _, err := parseEchoRequest(flip(req, len(req)-echoMACLen-1), key, "node-a"); return err }()},
		{"request cut short", func() error { _, err := parseEchoRequest(req[:len(req)-1], key, "node-a"); return err }()},
		{"answer with another key", func() error { _, err := parseEchoAnswer(ans, other); return err }()},
		{"answer with its MAC changed", func() error { _, err := parseEchoAnswer(flip(ans, len(ans)-1), key); return err }()},
		{"answer taken for a request", func() error { _, err := parseEchoRequest(ans, key, "node-a"); return err }()},
		{"request taken for an answer", func() error { _, err := parseEchoAnswer(req, key); return err }()},
	} {
		if !errors.Is(tc.err, errEchoInvalid) {
			t.Errorf("%s: %v, want errEchoInvalid", tc.name, tc.err)
		}
	}
	if !isEcho(req) || !isEcho(ans) || isEcho([]byte{0}) || isEcho([]byte{1, 2}) || isEcho([]byte{244}) || isEcho(nil) {
		t.Error("isEcho tells echoes from memberlist's packets wrongly")
	}
}
