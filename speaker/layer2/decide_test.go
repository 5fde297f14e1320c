package layer2

import (
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

var (
	ourMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	peerMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	peerIP4  = netip.MustParseAddr("10.250.0.100")
	peerIP6  = netip.MustParseAddr("fe80::100")
	otherIP4 = netip.MustParseAddr("10.250.0.201")
	otherIP6 = netip.MustParseAddr("fd00:250::201")
	vip4     = netip.MustParseAddr("10.250.0.200")
	vip6     = netip.MustParseAddr("fd00:250::200")
)

func ownsVIPs(ip netip.Addr) bool { return ip == vip4 || ip == vip6 }

// arpFrame builds an Ethernet frame carrying an ARP packet.
func arpFrame(t testing.TB, op arp.Operation, senderHW net.HardwareAddr, sender, target netip.Addr) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, senderHW, sender, ethernet.Broadcast, target)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := ethernet.Frame{Destination: ethernet.Broadcast, Source: senderHW, EtherType: ethernet.EtherTypeARP, Payload: pb}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// with returns b with b[i] = v, on a copy.
func with(b []byte, i int, v byte) []byte {
	out := append([]byte(nil), b...)
	out[i] = v
	return out
}

func TestARPQuestion(t *testing.T) {
	req := arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, vip4)
	const arpOff = 14 // ARP starts after the Ethernet header
	tests := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"a request for a VIP we hold", req, true},
		{"an ARP probe (sender 0.0.0.0) for a VIP we hold", arpFrame(t, arp.OperationRequest, peerMAC, netip.IPv4Unspecified(), vip4), true},
		{"a request for an address we do not hold", arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, otherIP4), false},
		{"a reply", arpFrame(t, arp.OperationReply, peerMAC, peerIP4, vip4), false},
		{"our own gratuitous request", arpFrame(t, arp.OperationRequest, ourMAC, vip4, vip4), false},
		{"from a multicast sender MAC", arpFrame(t, arp.OperationRequest, net.HardwareAddr{0x03, 0, 0, 0, 0, 1}, peerIP4, vip4), false},
		{"not Ethernet hardware", with(req, arpOff+1, 6), false},
		{"not IPv4 protocol", with(req, arpOff+2, 0x86), false},
		// Lengths that disagree with the frame: the parse fails. Before
		// the decision was separated, arp.Client.Read returned this as
		// an error and the interface stopped answering ARP for good.
		{"hardware address length past the frame's end", with(req, arpOff+4, 200), false},
		{"IP length 5", with(req, arpOff+5, 5), false},
		{"truncated", req[:arpOff+10], false},
		{"too short for Ethernet", req[:10], false},
		{"not ARP ethertype", with(req, 12, 0x86), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := arpQuestion(tt.frame, ownsVIPs)
			if ok != tt.want {
				t.Fatalf("answered = %v, want %v (%+v)", ok, tt.want, p)
			}
			if ok {
				checkARPAnswerable(t, p)
			}
		})
	}
}

// checkARPAnswerable: what arpQuestion lets through is a request for a
// VIP from which arp.Client.Reply builds a unicast reply without error.
func checkARPAnswerable(t *testing.T, p *arp.Packet) {
	t.Helper()
	if p.Operation != arp.OperationRequest || !ownsVIPs(p.TargetIP) || p.SenderIP == p.TargetIP {
		t.Fatalf("answers %+v", p)
	}
	if p.SenderHardwareAddr[0]&1 != 0 {
		t.Fatalf("answers a group address %s", p.SenderHardwareAddr)
	}
	if _, err := arp.NewPacket(arp.OperationReply, ourMAC, p.TargetIP, p.SenderHardwareAddr, p.SenderIP); err != nil {
		t.Fatalf("answers %+v, but the reply cannot be built: %v", p, err)
	}
}

func FuzzARPQuestion(f *testing.F) {
	req := arpFrame(f, arp.OperationRequest, peerMAC, peerIP4, vip4)
	f.Add(req)
	f.Add(arpFrame(f, arp.OperationRequest, peerMAC, netip.IPv4Unspecified(), vip4))
	f.Add(arpFrame(f, arp.OperationReply, peerMAC, peerIP4, vip4))
	f.Add(arpFrame(f, arp.OperationRequest, ourMAC, vip4, vip4))
	f.Add(with(req, 14+4, 200))
	f.Add(with(req, 14+5, 16))
	f.Add(req[:24])
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, ok := arpQuestion(frame, ownsVIPs)
		if ok {
			checkARPAnswerable(t, p)
		}
	})
}

// nsMessage marshals a neighbour solicitation for target.
func nsMessage(t testing.TB, target netip.Addr, opts ...ndp.Option) []byte {
	t.Helper()
	b, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{TargetAddress: target, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNDPQuestion(t *testing.T) {
	srcLLA := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: peerMAC}
	na, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{TargetAddress: vip6})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		src  netip.Addr
		hops int
		want naReply
		ok   bool
	}{
		{"a solicitation for a VIP we hold", nsMessage(t, vip6, srcLLA), peerIP6, 255,
			naReply{Target: vip6, Dst: peerIP6, Solicited: true}, true},
		{"the source's zone is not kept", nsMessage(t, vip6, srcLLA), peerIP6.WithZone("eth0"), 255,
			naReply{Target: vip6, Dst: peerIP6, Solicited: true}, true},
		{"duplicate address detection is answered to all nodes", nsMessage(t, vip6), netip.IPv6Unspecified(), 255,
			naReply{Target: vip6, Dst: netip.IPv6LinkLocalAllNodes()}, true},
		{"a DAD probe with a source link-layer address is invalid", nsMessage(t, vip6, srcLLA), netip.IPv6Unspecified(), 255, naReply{}, false},
		{"for an address we do not hold", nsMessage(t, otherIP6), peerIP6, 255, naReply{}, false},
		{"an advertisement", na, peerIP6, 255, naReply{}, false},
		{"from a multicast source", nsMessage(t, vip6), netip.IPv6LinkLocalAllNodes(), 255, naReply{}, false},
		{"from an IPv4 source", nsMessage(t, vip6), peerIP4, 255, naReply{}, false},
		{"for the IPv4-mapped form of a VIP", mappedTarget(t), peerIP6, 255, naReply{}, false},
		{"truncated", nsMessage(t, vip6)[:10], peerIP6, 255, naReply{}, false},
		{"empty", nil, peerIP6, 255, naReply{}, false},
		{"hop limit unknown (no control message)", nsMessage(t, vip6, srcLLA), peerIP6, -1,
			naReply{Target: vip6, Dst: peerIP6, Solicited: true}, true},
		{"forwarded by a router (hop limit 254)", nsMessage(t, vip6, srcLLA), peerIP6, 254, naReply{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ndpQuestion(tt.msg, tt.src, tt.hops, ownsVIPs)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("ndpQuestion = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzNDPQuestion(f *testing.F) {
	srcLLA := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: peerMAC}
	f.Add(nsMessage(f, vip6, srcLLA), peerIP6.AsSlice(), 255)
	f.Add(nsMessage(f, vip6), netip.IPv6Unspecified().AsSlice(), 255)
	f.Add(nsMessage(f, vip6, srcLLA), netip.IPv6Unspecified().AsSlice(), 255)
	f.Add(nsMessage(f, otherIP6), peerIP6.AsSlice(), 255)
	f.Add(nsMessage(f, vip6), []byte{}, -1)
	f.Add(nsMessage(f, vip6), peerIP6.AsSlice(), 64)
	f.Add(mappedTarget(f), peerIP6.AsSlice(), 255)
	f.Fuzz(func(t *testing.T, msg, srcBytes []byte, hops int) {
		src, _ := netip.AddrFromSlice(srcBytes)
		a, ok := ndpQuestion(msg, src, hops, ownsVIPs)
		if !ok {
			return
		}
		if hops >= 0 && hops != 255 {
			t.Fatalf("answers a solicitation with hop limit %d", hops)
		}
		if !a.Target.Is6() || !ownsVIPs(a.Target) {
			t.Fatalf("answers for %s", a.Target)
		}
		switch {
		case a.Solicited && (a.Dst != src.WithZone("") || a.Dst.IsMulticast() || a.Dst.IsUnspecified() || !a.Dst.Is6()):
			t.Fatalf("a solicited answer from %s goes to %s", src, a.Dst)
		case !a.Solicited && a.Dst != netip.IPv6LinkLocalAllNodes():
			t.Fatalf("an unsolicited answer goes to %s, not all nodes", a.Dst)
		}
		// sendNA must be able to marshal the answer.
		if _, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{
			Solicited: a.Solicited, Override: true, TargetAddress: a.Target,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ourMAC}},
		}); err != nil {
			t.Fatalf("answer %+v does not marshal: %v", a, err)
		}
	})
}

// mappedTarget is a solicitation for ::ffff:10.250.0.200, which ndp will
// not marshal but will parse.
func mappedTarget(t testing.TB) []byte {
	b := nsMessage(t, vip6)
	const targetOff = 8 // ICMPv6 header 4 bytes, reserved 4 bytes
	m := netip.AddrFrom16(vip4.As16()).As16()
	copy(b[targetOff:], m[:])
	return b
}
