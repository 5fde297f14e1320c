package members

import (
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// heardTransport is memberlist's own UDP and TCP transport that also
// stamps every packet's arrival by its sender's address. Any packet from a
// member is a sign of life: its probes of this node, its answers to this
// node's probes, its gossip, the probes it forwards. The last one heard
// before a member is declared dead is the best local bound on when it
// failed, several times closer than the last answer to this node's own
// probes, which go to a random member each round.
type heardTransport struct {
	*memberlist.NetTransport
	heard   func(from string, at time.Time)
	packets chan *memberlist.Packet
	done    chan struct{}
	stopped sync.WaitGroup
}

// newHeardTransport wraps nt; heard is called, from the transport's one
// forwarding goroutine, for every packet before memberlist sees it.
func newHeardTransport(nt *memberlist.NetTransport, heard func(from string, at time.Time)) *heardTransport {
	t := &heardTransport{NetTransport: nt, heard: heard, packets: make(chan *memberlist.Packet), done: make(chan struct{})}
	t.stopped.Add(1)
	go t.forward()
	return t
}

func (t *heardTransport) forward() {
	defer t.stopped.Done()
	in := t.NetTransport.PacketCh()
	for {
		select {
		case p := <-in:
			t.heard(p.From.String(), p.Timestamp)
			select {
			case t.packets <- p:
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

// PacketCh is where memberlist reads the packets, once stamped.
func (t *heardTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// Shutdown closes the sockets and stops forwarding.
func (t *heardTransport) Shutdown() error {
	err := t.NetTransport.Shutdown()
	close(t.done)
	t.stopped.Wait()
	return err
}
