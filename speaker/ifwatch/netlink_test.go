//go:build e2e

package ifwatch

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/ironlb/ironlb/test/netns"
)

// TestNetlinkReportsNewInterfaceAndAddress: in a node's own network
// namespace, a link that appears and an address added to it are each
// reported at once, over netlink (no poll: the interval is an hour).
func TestNetlinkReportsNewInterfaceAndAddress(t *testing.T) {
	lab := netns.New(t)
	node := lab.Host("node", "10.251.0.2/24")
	w := New(func() []string { return nil }, logr.Discard())
	w.PollInterval = time.Hour
	start(t, w, func(ctx context.Context) error {
		return netns.Do(node, func() error { return w.Run(ctx) })
	})
	select {
	case <-w.Changed():
		t.Fatal("a change reported before anything changed")
	case <-time.After(100 * time.Millisecond):
	}

	began := time.Now()
	if out, err := lab.Exec(node, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth2"); err != nil {
		t.Fatalf("adding eth1: %v: %s", err, out)
	}
	changedWithin(t, w, "eth1 appeared")
	t.Logf("new link reported %s after it was added", time.Since(began).Round(time.Microsecond))

	// Drain what the link's own follow-up events left pending.
	time.Sleep(50 * time.Millisecond)
	select {
	case <-w.Changed():
	default:
	}
	if out, err := lab.Exec(node, "ip", "addr", "add", "10.252.0.2/24", "dev", "eth1"); err != nil {
		t.Fatalf("adding an address: %v: %s", err, out)
	}
	changedWithin(t, w, "an address was added to eth1")
}
