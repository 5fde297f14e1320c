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
// the kernel learns it from that answer for the next try. local is this
// node's link-local address on iface.
func findLinkRouter(iface string) (local, router netip.Addr, err error) {
	if local, err = linkLocalOf(iface); err != nil {
		return netip.Addr{}, netip.Addr{}, err // no session can run over this link
	}
	s, err := oc.GetIPv6LinkLocalNeighborAddress(iface)
	if err == nil {
		router, err = netip.ParseAddr(s)
		return local, router, err
	}
	if serr := solicitRouters(iface); serr != nil {
		return netip.Addr{}, netip.Addr{}, errors.Join(err, fmt.Errorf("sending a router solicitation on %s: %w", iface, serr))
	}
	return netip.Addr{}, netip.Addr{}, err
}

// linkLocalOf is iface's IPv6 link-local address, zoned.
func linkLocalOf(iface string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", iface, err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsLinkLocalUnicast() && p.Addr().Is6() {
			return p.Addr().WithZone(iface), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv6 link-local address (is IPv6 disabled on it?)", iface)
}

// Where Router Solicitations and Advertisements go (RFC 4861 §6.3.7, §6.2.4).
var (
	allRouters = net.ParseIP("ff02::2")
	allNodes   = net.ParseIP("ff02::1")
)

// solicitRouters sends one Router Solicitation out of iface.
func solicitRouters(iface string) error {
	return sendND(iface, ipv6.ICMPTypeRouterSolicitation, make([]byte, 4), allRouters)
}

// advertiseOnLink sends one Router Advertisement out of iface with a
// router lifetime of 0 (RFC 4861 §4.2: not a default router) and this
// interface's link-layer address. The router of an unnumbered session
// learns this node's link-local address from it: FRR waits for one before
// it accepts or opens the session ("Waiting for Peer IPv6 LLA"), as it
// sends its own.
func advertiseOnLink(iface string) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	// Cur hop limit, flags, router lifetime, reachable time and retrans
	// timer all 0 ("unspecified"), then the source link-layer address
	// option (type 1, length in units of 8 bytes).
	body := make([]byte, 12, 12+2+len(ifi.HardwareAddr))
	if len(ifi.HardwareAddr) == 6 {
		body = append(body, 1, 1)
		body = append(body, ifi.HardwareAddr...)
	}
	return sendND(iface, ipv6.ICMPTypeRouterAdvertisement, body, allNodes)
}

// sendND sends one neighbour-discovery message out of iface to the
// link-scope multicast group dst. The kernel fills in the ICMPv6 checksum;
// RFC 4861 requires hop limit 255.
func sendND(iface string, typ ipv6.ICMPType, body []byte, dst net.IP) error {
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
	msg := icmp.Message{Type: typ, Body: &icmp.RawBody{Data: body}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	_, err = c.WriteTo(b, &net.IPAddr{IP: dst, Zone: iface})
	return err
}
