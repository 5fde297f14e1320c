package layer2

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// naSender sends neighbour advertisements whose source address is the VIP
// itself, as the kernel does for an address it owns. Clients that check
// the source (ndisc6 drops an answer for a unicast target that comes from
// another address) then accept them. The VIP is not assigned to any
// interface, so the socket needs IPV6_FREEBIND to use it as a source.
type naSender struct {
	ifi *net.Interface
	pc  *ipv6.PacketConn
}

// openNASender opens a send-only raw ICMPv6 socket in the calling thread's
// network namespace.
func openNASender(ifi *net.Interface) (*naSender, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("IPV6_FREEBIND: %w", serr)
		}
		return nil
	}}
	conn, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(conn)
	// Send-only: a raw socket gets a copy of every ICMPv6 packet unless
	// filtered, and nobody reads this one.
	var block ipv6.ICMPFilter
	block.SetAll(true)
	if err := pc.SetICMPFilter(&block); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("filtering: %w", err)
	}
	return &naSender{ifi: ifi, pc: pc}, nil
}

func (s *naSender) send(na *ndp.NeighborAdvertisement, dst netip.Addr) error {
	b, err := ndp.MarshalMessage(na)
	if err != nil {
		return err
	}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: na.TargetAddress.AsSlice(), IfIndex: s.ifi.Index}
	_, err = s.pc.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: s.ifi.Name})
	return err
}

func (s *naSender) close() error { return s.pc.Close() }
