package netns

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
)

// DialARP opens an ARP client on interface iface of the named namespace.
// The socket stays bound to that namespace's link after Do returns.
func DialARP(name, iface string) (*arp.Client, error) {
	var c *arp.Client
	err := Do(name, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("interface %s in namespace %s: %w", iface, name, err)
		}
		c, err = arp.Dial(ifi)
		return err
	})
	return c, err
}

// AskARP sends one request for ip on c and returns the first reply to
// arrive by deadline. Replies still queued from earlier requests (during a
// handoff two nodes answer one request) are dropped first: Resolve returns
// the first reply it reads, which would otherwise be an old one.
func AskARP(c *arp.Client, ip netip.Addr, deadline time.Time) (net.HardwareAddr, error) {
	// A deadline already past fails a read without reading: give it a
	// moment.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Microsecond))
	for {
		if _, _, err := c.Read(); err != nil {
			break
		}
	}
	_ = c.SetDeadline(deadline)
	return c.Resolve(ip)
}

// ARPAnswerers sends one request for each of ips on c and returns, per
// IP, every MAC that claimed it by deadline: replies to these requests
// and any gratuitous announcement, so two nodes answering at once are
// both seen.
func ARPAnswerers(c *arp.Client, ips []netip.Addr, deadline time.Time) (map[netip.Addr][]net.HardwareAddr, error) {
	want := map[netip.Addr]bool{}
	for _, ip := range ips {
		want[ip] = true
		if err := c.Request(ip); err != nil {
			return nil, fmt.Errorf("ARP request for %s: %w", ip, err)
		}
	}
	out := map[netip.Addr][]net.HardwareAddr{}
	_ = c.SetReadDeadline(deadline)
	for {
		p, _, err := c.Read()
		if err != nil {
			return out, nil // the deadline
		}
		if !want[p.SenderIP] {
			continue
		}
		seen := false
		for _, m := range out[p.SenderIP] {
			seen = seen || m.String() == p.SenderHardwareAddr.String()
		}
		if !seen {
			out[p.SenderIP] = append(out[p.SenderIP], p.SenderHardwareAddr)
		}
	}
}
