package layer2

import (
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// The decisions below are pure: bytes off the wire in, whether and how to
// answer out. They are apart from the sockets so that every frame an
// attacker on the segment can send is fuzzed (FuzzARPQuestion,
// FuzzNDPQuestion), and so that a frame that does not parse is one that is
// not answered, never one that stops the reader.

// ARP header values for Ethernet and IPv4 (RFC 826, RFC 5342).
const (
	arpHardwareEthernet = 1
	ethernetAddrLen     = 6
	ipv4Len             = 4
)

// arpQuestion parses one Ethernet frame read from the ARP socket and
// returns the request if it asks for an address we hold and an answer can
// be built from it: an Ethernet/IPv4 request from a unicast sender whose
// target we own. Our own gratuitous requests (sender IP = target IP) come
// back to us and are no question.
func arpQuestion(frame []byte, owns func(netip.Addr) bool) (*arp.Packet, bool) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil || f.EtherType != ethernet.EtherTypeARP {
		return nil, false
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return nil, false
	}
	switch {
	case p.Operation != arp.OperationRequest,
		p.HardwareType != arpHardwareEthernet || p.ProtocolType != uint16(ethernet.EtherTypeIPv4),
		p.HardwareAddrLength != ethernetAddrLen || p.IPLength != ipv4Len,
		// The reply goes to the sender's MAC: a group address would make
		// us answer a whole segment.
		p.SenderHardwareAddr[0]&1 != 0,
		!p.TargetIP.Is4() || !p.SenderIP.Is4(),
		p.SenderIP == p.TargetIP,
		!owns(p.TargetIP):
		return nil, false
	}
	return &p, true
}

// naReply is how to answer a neighbour solicitation.
type naReply struct {
	Target netip.Addr
	// Dst is the solicitation's source, or all-nodes for duplicate address
	// detection (RFC 4861 7.2.4).
	Dst       netip.Addr
	Solicited bool
}

// ndpQuestion parses one ICMPv6 message read from the NDP socket, sent
// from src with hopLimit (-1 if unknown), and says how to answer it: only
// neighbour solicitations for an address we hold that pass RFC 4861
// 7.1.1's checks (the kernel has already checked the checksum). A hop
// limit below 255 means a router forwarded it: the sender is off-link and
// may not ask (7.1.1).
func ndpQuestion(msg []byte, src netip.Addr, hopLimit int, owns func(netip.Addr) bool) (naReply, bool) {
	if hopLimit >= 0 && hopLimit != ndp.HopLimit {
		return naReply{}, false
	}
	m, err := ndp.ParseMessage(msg)
	if err != nil {
		return naReply{}, false
	}
	ns, ok := m.(*ndp.NeighborSolicitation)
	if !ok || !ns.TargetAddress.Is6() || ns.TargetAddress.Is4In6() || ns.TargetAddress.IsMulticast() {
		return naReply{}, false
	}
	src = src.WithZone("")
	if src.IsValid() && (!src.Is6() || src.IsMulticast()) {
		return naReply{}, false
	}
	dad := !src.IsValid() || src.IsUnspecified()
	// A duplicate address detection probe carries no source link-layer
	// address; one that does is invalid and silently dropped (7.1.1).
	if dad && hasSourceLLA(ns.Options) {
		return naReply{}, false
	}
	if !owns(ns.TargetAddress) {
		return naReply{}, false
	}
	if dad {
		return naReply{Target: ns.TargetAddress, Dst: netip.IPv6LinkLocalAllNodes()}, true
	}
	return naReply{Target: ns.TargetAddress, Dst: src, Solicited: true}, true
}

func hasSourceLLA(opts []ndp.Option) bool {
	for _, o := range opts {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			return true
		}
	}
	return false
}
