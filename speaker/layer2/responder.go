package layer2

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
)

// responder answers ARP and NDP on one interface for the VIPs it holds.
//
// mu guards vips; the sockets are safe for concurrent use.
type responder struct {
	ifi     *net.Interface
	log     logr.Logger
	metrics Metrics
	arp     *arp.Client // nil when the interface has no IPv4 address
	// arpConn is arp's socket; requests are read from it raw and parsed
	// by arpQuestion, because arp.Client.Read returns a malformed frame as
	// an error indistinguishable from a dead socket.
	arpConn net.PacketConn
	// arpSocket is the same socket, whose filter (arpFilter) follows vips;
	// filterFailed: the kernel refused a filter once (logged), and every
	// request is read and picked here.
	arpSocket    *packet.Conn
	filterFailed bool
	ndp          *ndp.Conn // nil when it has no IPv6 link-local address
	// na sends advertisements from the VIP itself; nil when the kernel
	// refuses IPV6_FREEBIND, and then they come from ndpSource, the
	// interface's link-local address (RFC 4861 allows any address of the
	// interface; the kernel's own choice is the target).
	na        *naSender
	ndpSource *ipv6.ControlMessage

	mu   sync.Mutex
	vips map[netip.Addr]bool
}

// openResponder opens the interface's ARP and NDP sockets. The sockets
// belong to the network namespace of the calling thread.
func openResponder(ifi *net.Interface, log logr.Logger, m Metrics) (*responder, error) {
	r := &responder{ifi: ifi, log: log, metrics: m, vips: map[netip.Addr]bool{}}
	var errs []error
	if pc, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil); err != nil {
		errs = append(errs, fmt.Errorf("ARP: %w", err))
	} else if c, err := arp.New(ifi, pc); err != nil {
		_ = pc.Close()
		errs = append(errs, fmt.Errorf("ARP: %w", err))
	} else {
		r.arp, r.arpConn, r.arpSocket = c, pc, pc
		r.filterARP()
	}
	// Bound to the unspecified address: a socket bound to the link-local
	// address would not receive solicitations sent to the solicited-node
	// multicast groups it joins.
	ll, llErr := linkLocal(ifi)
	conn, _, err := ndp.Listen(ifi, ndp.Unspecified)
	switch {
	case llErr != nil:
		errs = append(errs, fmt.Errorf("NDP: %w", llErr))
		if err == nil {
			_ = conn.Close()
		}
	case err != nil:
		errs = append(errs, fmt.Errorf("NDP: %w", err))
	default:
		r.ndp = conn
		// The hop limit and arrival interface of each message, for
		// ndpQuestion and serveNDP; without them both checks are skipped.
		if err := conn.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface, true); err != nil {
			errs = append(errs, fmt.Errorf("NDP: hop limit and interface of requests unknown, not checked: %w", err))
		}
		r.ndpSource = &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ll.AsSlice(), IfIndex: ifi.Index}
		if r.na, err = openNASender(ifi); err != nil {
			errs = append(errs, fmt.Errorf("NDP advertisements will come from %s, not from the VIP: %w", ll, err))
		}
	}
	if r.arp == nil && r.ndp == nil {
		return nil, errors.Join(errs...)
	}
	for _, e := range errs {
		log.Info("interface only partly usable", "reason", e.Error())
	}
	return r, nil
}

// add starts answering for ip.
func (r *responder) add(ip netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vips[ip] {
		return nil
	}
	switch {
	case ip.Is4() && r.arp == nil:
		return errors.New("no IPv4 address on the interface, cannot answer ARP")
	case ip.Is6() && r.ndp == nil:
		return errors.New("no IPv6 link-local address on the interface, cannot answer NDP")
	case ip.Is6():
		group, err := ndp.SolicitedNodeMulticast(ip)
		if err != nil {
			return err
		}
		if err := r.ndp.JoinGroup(group); err != nil {
			return fmt.Errorf("joining %s: %w", group, err)
		}
	}
	r.vips[ip] = true
	if ip.Is4() {
		r.filterARP()
	}
	return nil
}

// remove stops answering for ip at once.
func (r *responder) remove(ip netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.vips[ip] {
		return
	}
	delete(r.vips, ip)
	if ip.Is4() {
		r.filterARP()
	}
	if ip.Is6() && r.ndp != nil {
		if group, err := ndp.SolicitedNodeMulticast(ip); err == nil {
			_ = r.ndp.LeaveGroup(group)
		}
	}
}

// filterARP has the kernel keep only the ARP requests for r.vips (see
// arpFilter). Caller holds mu, or is the opener.
func (r *responder) filterARP() {
	if r.arpSocket == nil || r.filterFailed {
		return
	}
	raw, err := bpf.Assemble(arpFilter(slices.Collect(maps.Keys(r.vips))))
	if err == nil {
		err = r.arpSocket.SetBPF(raw)
	}
	if err != nil {
		r.filterFailed = true
		r.log.Info("the kernel refused the ARP socket's filter: every ARP request on the interface wakes this speaker", "interface", r.ifi.Name, "reason", err.Error())
	}
}

func (r *responder) owns(ip netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vips[ip]
}

func (r *responder) close() {
	if r.arp != nil {
		_ = r.arp.Close()
	}
	if r.ndp != nil {
		_ = r.ndp.Close()
	}
	if r.na != nil {
		_ = r.na.close()
	}
}

// serve answers requests until ctx ends or the sockets close.
func (r *responder) serve(ctx context.Context) {
	var wg sync.WaitGroup
	if r.arp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.serveARP(ctx) }()
	}
	if r.ndp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.serveNDP(ctx) }()
	}
	<-ctx.Done()
	r.close()
	wg.Wait()
}

// readRetry is how long a read loop waits after a read error before it
// reads again.
const readRetry = 100 * time.Millisecond

// readFailed decides what a read loop does after err: stop when the
// responder closes, else wait readRetry and read again. A link going down
// fails a packet socket's read once with ENETDOWN and the socket works
// again when the link is up; the loop used to stop for good there, and a
// node whose link flapped never answered ARP again. failing counts the
// errors in a row, so a run of them is logged once.
func (r *responder) readFailed(ctx context.Context, err error, what string, failing *int) (stop bool) {
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return true
	}
	if *failing == 0 {
		r.log.Info("reading "+what+" failed; reading again until the responder stops", "reason", err.Error(), "linkDown", errors.Is(err, syscall.ENETDOWN))
	}
	*failing++
	t := time.NewTimer(readRetry)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-t.C:
		return false
	}
}

// readWorks ends a run of read errors counted by readFailed, logging it.
func (r *responder) readWorks(what string, failing *int) {
	if *failing > 0 {
		r.log.Info("reading "+what+" again", "after", *failing)
		*failing = 0
	}
}

func (r *responder) serveARP(ctx context.Context) {
	buf := make([]byte, maxFrame(r.ifi))
	failing := 0
	for {
		n, _, err := r.arpConn.ReadFrom(buf)
		if err != nil {
			if r.readFailed(ctx, err, "ARP", &failing) {
				return
			}
			continue
		}
		r.readWorks("ARP", &failing)
		pkt, ok := arpQuestion(buf[:n], r.owns)
		if !ok {
			continue
		}
		r.metrics.RequestReceived(pkt.TargetIP)
		if err := r.arp.Reply(pkt, r.ifi.HardwareAddr, pkt.TargetIP); err != nil {
			r.log.Error(err, "answering ARP", "ip", pkt.TargetIP.String())
			continue
		}
		r.metrics.ResponseSent(pkt.TargetIP)
	}
}

// maxFrame is the largest Ethernet frame the interface can receive: its
// MTU, the 14-byte header and a VLAN tag. A longer read is truncated and
// then fails to parse, which only drops that frame.
func maxFrame(ifi *net.Interface) int { return max(ifi.MTU, 1500) + 14 + 4 }

func (r *responder) serveNDP(ctx context.Context) {
	// ReadRaw, not ReadFrom: ReadFrom drops every message whose source is
	// the address the socket is bound to, here the unspecified address,
	// which is the source of every duplicate address detection probe.
	buf := make([]byte, max(r.ifi.MTU, 1280))
	failing := 0
	for {
		n, cm, src, err := r.ndp.ReadRaw(buf)
		if err != nil {
			if r.readFailed(ctx, err, "NDP", &failing) {
				return
			}
			continue
		}
		r.readWorks("NDP", &failing)
		hopLimit := -1
		if cm != nil {
			// The raw socket hears every interface: answer only what
			// arrived on ours, where the VIP is announced.
			if cm.IfIndex != 0 && cm.IfIndex != r.ifi.Index {
				continue
			}
			hopLimit = cm.HopLimit
		}
		a, ok := ndpQuestion(buf[:n], src, hopLimit, r.owns)
		if !ok {
			continue
		}
		r.metrics.RequestReceived(a.Target)
		if err := r.sendNA(a.Target, a.Dst, a.Solicited); err != nil {
			r.log.Error(err, "answering NDP", "ip", a.Target.String())
			continue
		}
		r.metrics.ResponseSent(a.Target)
	}
}

func (r *responder) sendNA(target, dst netip.Addr, solicited bool) error {
	na := &ndp.NeighborAdvertisement{
		Solicited:     solicited,
		Override:      true,
		TargetAddress: target,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      r.ifi.HardwareAddr,
		}},
	}
	if r.na != nil {
		return r.na.send(na, dst)
	}
	return r.ndp.WriteTo(na, r.ndpSource, dst)
}

func linkLocal(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, errors.New("no IPv6 link-local address")
}

// announce sends one unsolicited announcement for ip: a gratuitous ARP
// request (sender IP = target IP, broadcast), which Linux applies to an
// existing neighbour entry at once, or a neighbour advertisement with
// Override to all nodes.
func (r *responder) announce(ip netip.Addr) error {
	if !r.owns(ip) {
		return nil
	}
	if ip.Is6() {
		return r.sendNA(ip, netip.IPv6LinkLocalAllNodes(), false)
	}
	pkt, err := arp.NewPacket(arp.OperationRequest, r.ifi.HardwareAddr, ip, ethernet.Broadcast, ip)
	if err != nil {
		return err
	}
	return r.arp.WriteTo(pkt, ethernet.Broadcast)
}
