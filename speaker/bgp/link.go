package bgp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/osrg/gobgp/v3/pkg/config/oc"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// findLinkRouter is the router on the point-to-point link iface, by the
// IPv6 link-local address the kernel's neighbour table holds for it (the
// lookup GoBGP's own unnumbered peers use: exactly one such neighbour).
// When none is known it sends a Router Solicitation: a router whose Router
// Advertisements are on (FRR turns them on for its unnumbered peers)
// answers at once instead of at its next periodic one, seconds later, and
// the kernel learns it from that answer for the next try.
func findLinkRouter(iface string) (netip.Addr, error) {
	s, err := oc.GetIPv6LinkLocalNeighborAddress(iface)
	if err == nil {
		return netip.ParseAddr(s)
	}
	if serr := solicitRouters(iface); serr != nil {
		return netip.Addr{}, errors.Join(err, fmt.Errorf("sending a router solicitation on %s: %w", iface, serr))
	}
	return netip.Addr{}, err
}

// allRouters is ff02::2, where Router Solicitations go (RFC 4861 §6.3.7).
var allRouters = net.ParseIP("ff02::2")

// solicitRouters sends one Router Solicitation out of iface. The kernel
// fills in the ICMPv6 checksum; RFC 4861 requires hop limit 255.
func solicitRouters(iface string) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return err
	}
	defer c.Close()
	pc := c.IPv6PacketConn()
	if err := pc.SetMulticastInterface(ifi); err != nil {
		return err
	}
	if err := pc.SetMulticastHopLimit(255); err != nil {
		return err
	}
	msg := icmp.Message{Type: ipv6.ICMPTypeRouterSolicitation, Body: &icmp.RawBody{Data: make([]byte, 4)}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	_, err = c.WriteTo(b, &net.IPAddr{IP: allRouters, Zone: iface})
	return err
}
