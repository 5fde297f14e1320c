package members

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

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
