package members

import (
	"bytes"
	"io"
	"net"
	"strconv"
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
	tr, err := newTransport("127.0.0.1", 0, func(from string, at time.Time) {
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
