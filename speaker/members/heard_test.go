package members

import (
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
)

// TestHeardTransportStampsEveryPacket: every packet reaching memberlist's
// socket is stamped by its sender's address before memberlist reads it,
// and Shutdown stops the forwarding goroutine (goleak checks it).
func TestHeardTransportStampsEveryPacket(t *testing.T) {
	port := freeUDPAndTCPPort(t)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: port,
		Logger: log.New(logWriter{logr.Discard()}, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	heard := make(chan string, 1)
	tr := newHeardTransport(nt, func(from string, at time.Time) {
		if !at.IsZero() {
			heard <- from
		}
	})
	defer func() {
		if err := tr.Shutdown(); err != nil {
			t.Error(err)
		}
	}()
	sender, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to, _ := net.ResolveUDPAddr("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if _, err := sender.WriteTo([]byte("a packet"), to); err != nil {
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
		if string(p.Buf) != "a packet" {
			t.Errorf("memberlist read %q", p.Buf)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("memberlist never got the packet")
	}
}

// TestHeardOnlyFromMembers: a packet from an address no member has is not
// recorded; one from a member's is, and a rejoin forgets the earlier life.
func TestHeardOnlyFromMembers(t *testing.T) {
	m, err := New(Options{NodeName: "a", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	d := (*eventDelegate)(m)
	d.NotifyJoin(&memberlist.Node{Name: "b", Addr: net.IPv4(192, 0, 2, 2), Port: 7946})
	at := time.Now()
	m.heard("192.0.2.9:7946", at)
	m.heard("192.0.2.2:7946", at)
	if len(m.heardAt) != 1 || !m.heardAt["192.0.2.2:7946"].Equal(at) {
		t.Errorf("heard %v, want only b's address at %v", m.heardAt, at)
	}
	d.NotifyLeave(&memberlist.Node{Name: "b", Addr: net.IPv4(192, 0, 2, 2), Port: 7946})
	m.mu.Lock()
	left := m.queue[len(m.queue)-1]
	m.mu.Unlock()
	if !left.LastContact.Equal(at) {
		t.Errorf("b left with last contact %v, want the last packet heard at %v", left.LastContact, at)
	}
	d.NotifyJoin(&memberlist.Node{Name: "b", Addr: net.IPv4(192, 0, 2, 2), Port: 7946})
	if !m.heardAt["192.0.2.2:7946"].IsZero() {
		t.Errorf("a rejoin kept the earlier life's last packet")
	}
}
