package bgp

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/bfd"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// ErrBFDEchoUnsupported is wrapped in the PeerError of a session whose BFD
// profile asks for the echo function: BFD runs without it.
var ErrBFDEchoUnsupported = errors.New("echoMode: the BFD echo function is not supported; BFD runs in asynchronous mode only, detecting within detectMultiplier × the negotiated interval")

// PeerError is a problem with one session. Refused sessions are not
// configured at all (and none of their paths are sent); the others run,
// with the limitation Err describes. Retrying does not help until the
// configuration changes.
type PeerError struct {
	Peer    string
	Refused bool
	Err     error
}

func (e *PeerError) Error() string {
	if e.Refused {
		return fmt.Sprintf("BGP session %q refused: %v", e.Peer, e.Err)
	}
	return fmt.Sprintf("BGP session %q: %v", e.Peer, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

// PeerErrors lists the PeerErrors inside an error returned by Set.
func PeerErrors(err error) []*PeerError {
	var out []*PeerError
	var walk func(error)
	walk = func(err error) {
		if pe, ok := err.(*PeerError); ok {
			out = append(out, pe)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// Defaults for a Session's zero timers. They are GoBGP's and FRR's
// defaults and RFC 4271's suggested values, so a router configured with
// its own defaults agrees. GoBGP's API reads a hold time of 0 as its
// default too, so a session that asks for no hold timer is refused
// (NoHoldTimer) rather than run with 90 s.
const (
	DefaultHoldTime     = 90 * time.Second
	DefaultConnectRetry = 120 * time.Second
)

// gracefulRestartTime is how long a router keeps our paths while this
// speaker restarts (when the session asks for graceful restart): a pod
// restart on a loaded node takes well under two minutes, and FRR uses the
// same default.
const gracefulRestartTime = 120 * time.Second

// neighbor is everything GoBGP is told about one session; two equal
// neighbors need no change.
type neighbor struct {
	Peer    string
	Address netip.Addr
	// Interface is an unnumbered session's link; Address is then the
	// router's IPv6 link-local address on it, zone included.
	Interface string
	// IPv4, IPv6: the unicast families the session carries.
	IPv4, IPv6      bool
	Port            uint16
	LocalASN        uint32
	PeerASN         uint32 // 0: whatever the peer says in its OPEN
	SourceAddress   netip.Addr
	HoldTime        time.Duration
	KeepaliveTime   time.Duration
	ConnectRetry    time.Duration
	Password        string
	EBGPMultiHop    bool
	GracefulRestart bool
	// BFD, when BFD.On, is the session's BFD, which the session follows
	// (Speaker.onBFD).
	BFD bfdSession
}

// bfdSession is a session's BFD: its endpoints and timers.
type bfdSession struct {
	On     bool
	Peer   bfd.Peer
	Config bfd.Config
}

// route is one path as sent on one session.
type route struct {
	Prefix netip.Prefix
	// NextHop zero: the session's own local address, which GoBGP fills
	// in when the UPDATE is built.
	NextHop     netip.Addr
	LocalPref   uint32
	Communities []config.Community // sorted, unique
}

func (r route) equal(o route) bool {
	return r.Prefix == o.Prefix && r.NextHop == o.NextHop && r.LocalPref == o.LocalPref &&
		slices.Equal(r.Communities, o.Communities)
}

// plan is a Desired checked and turned into GoBGP's terms.
type plan struct {
	routerID netip.Addr
	// routerIDFrom names the session whose RouterID was used ("" for the
	// node's address); ignored lists sessions asking for another one.
	routerIDFrom string
	ignored      []string
	asn          uint32
	neighbors    map[string]neighbor
	routes       map[string]map[netip.Prefix]route
	problems     []*PeerError
}

// linkPeer is what is known of an unnumbered session's link: the
// router's link-local address and this node's own on the link (both
// zoned), or why the router was not found.
type linkPeer struct {
	Addr, Local netip.Addr
	Err         error
}

// compile checks d and computes, for every session it accepts, its GoBGP
// neighbour and the paths it carries. nodeAddrs give the router ID when no
// session names one (the first IPv4 address) and the next hop of a path
// whose family differs from its session's (the first of that family);
// links give the routers of unnumbered sessions, by interface.
func compile(d bgpspec.Desired, nodeAddrs []netip.Addr, links map[string]linkPeer) plan {
	p := plan{neighbors: map[string]neighbor{}, routes: map[string]map[netip.Prefix]route{}}
	sessions := slices.Clone(d.Sessions)
	slices.SortStableFunc(sessions, func(a, b bgpspec.Session) int { return cmp.Compare(a.Peer, b.Peer) })
	byAddr := map[netip.Addr]string{}
	refuse := func(peer, format string, args ...any) {
		p.problems = append(p.problems, &PeerError{Peer: peer, Refused: true, Err: fmt.Errorf(format, args...)})
	}
	accepted := make([]bgpspec.Session, 0, len(sessions))
	for _, s := range sessions {
		var link linkPeer
		if s.Interface != "" {
			l := links[s.Interface]
			if !l.Addr.IsValid() {
				why := "no router heard on it yet (it is found by its IPv6 link-local address; the router's Router Advertisements must be on)"
				if l.Err != nil {
					why = l.Err.Error()
				}
				p.problems = append(p.problems, &PeerError{Peer: s.Peer, Err: fmt.Errorf("unnumbered session on %s waits for its router: %s", s.Interface, why)})
				continue
			}
			s.Address = l.Addr
			link = l
		}
		n, err := toNeighbor(s)
		switch {
		case err != nil:
			refuse(s.Peer, "%w", err)
			continue
		case p.neighbors[s.Peer] != (neighbor{}):
			refuse(s.Peer, "listed twice")
			continue
		case byAddr[n.Address] != "":
			// GoBGP keys sessions by the peer's address.
			refuse(s.Peer, "peer address %s is already used by session %q", n.Address, byAddr[n.Address])
			continue
		}
		if s.BFDProfile != "" {
			b, err := toBFD(s, nodeAddrs, link.Local)
			if err != nil {
				refuse(s.Peer, "BFD profile %q: %w", s.BFDProfile, err)
				continue
			}
			n.BFD = b
			if s.BFD.EchoMode {
				p.problems = append(p.problems, &PeerError{Peer: s.Peer, Err: fmt.Errorf("BFD profile %q: %w", s.BFDProfile, ErrBFDEchoUnsupported)})
			}
		}
		byAddr[n.Address] = s.Peer
		p.neighbors[s.Peer] = n
		accepted = append(accepted, s)
	}
	p.chooseRouterID(accepted, nodeAddrs)
	if !p.routerID.IsValid() {
		for _, s := range accepted {
			refuse(s.Peer, "no router ID: the BGPPeer sets no routerID and the node has no IPv4 address")
			delete(p.neighbors, s.Peer)
		}
		accepted = nil
	}
	if len(accepted) > 0 {
		p.asn = accepted[0].MyASN
	}
	p.compileRoutes(d.Paths, nodeAddrs)
	return p
}

// toBFD is the session's BFD: from its source address, or else the node's
// first address of the peer's family; multihop for an ebgpMultiHop peer
// (RFC 5883), with the profile's minimum TTL. An unnumbered session's runs
// single hop between the link-local addresses, linkLocal being ours (as
// FRR runs it for `neighbor IF interface`).
func toBFD(s bgpspec.Session, nodeAddrs []netip.Addr, linkLocal netip.Addr) (bfdSession, error) {
	local := s.SourceAddress
	switch {
	case s.Interface != "" && !linkLocal.IsValid():
		return bfdSession{}, fmt.Errorf("no IPv6 link-local address of this node on %s to run BFD from", s.Interface)
	case s.Interface != "":
		local = linkLocal
	case !local.IsValid():
		local = firstOfFamily(nodeAddrs, s.Address.Is4())
	}
	if !local.IsValid() {
		return bfdSession{}, fmt.Errorf("no local %s address to run BFD from: set the BGPPeer's sourceAddress", family(s.Address.Is4()))
	}
	return bfdSession{On: true,
		Peer: bfd.Peer{Local: local, Remote: s.Address, Multihop: s.EBGPMultiHop, MinTTL: s.BFD.MinimumTTL},
		Config: bfd.Config{DesiredMinTx: s.BFD.TransmitInterval, RequiredMinRx: s.BFD.ReceiveInterval,
			DetectMult: s.BFD.DetectMultiplier, Passive: s.BFD.PassiveMode},
	}, nil
}

func toNeighbor(s bgpspec.Session) (neighbor, error) {
	asn := s.MyASN
	if s.LocalASN != 0 {
		// local-as … no-prepend replace-as: the OPEN and every AS_PATH
		// this peer sees carry LocalASN alone (GoBGP's per-neighbour
		// local AS; the paths are ours, their AS_PATH starts empty).
		asn = s.LocalASN
	}
	n := neighbor{
		Peer: s.Peer, Address: s.Address.Unmap(), Interface: s.Interface, Port: s.Port, LocalASN: asn, PeerASN: s.PeerASN,
		IPv4: s.Carries(netip.IPv4Unspecified()), IPv6: s.Carries(netip.IPv6Unspecified()),
		SourceAddress: s.SourceAddress.Unmap(), HoldTime: s.HoldTime, KeepaliveTime: s.KeepaliveTime,
		ConnectRetry: s.ConnectTime, Password: s.Password, EBGPMultiHop: s.EBGPMultiHop,
		GracefulRestart: s.EnableGracefulRestart,
	}
	switch {
	case s.Peer == "":
		return n, errors.New("the session has no peer name")
	case !n.Address.IsValid():
		return n, errors.New("no peer address")
	case s.Interface != "" && n.SourceAddress.IsValid():
		return n, fmt.Errorf("sourceAddress %s cannot be used on an unnumbered session (interface %s), which runs from the link's IPv6 link-local address", n.SourceAddress, s.Interface)
	case n.SourceAddress.IsValid() && n.SourceAddress.Is4() != n.Address.Is4():
		return n, fmt.Errorf("source address %s and peer address %s are of different families", n.SourceAddress, n.Address)
	case s.MyASN == 0:
		return n, errors.New("myASN is not set")
	case s.NoHoldTimer:
		return n, errors.New("holdTime 0 asks for no hold timer and no keepalives, which IronLB's BGP speaker cannot do " +
			"(GoBGP would run the session with its 90s default); set holdTime to 3s or more")
	}
	switch s.DynamicASN {
	case "":
		if s.PeerASN == 0 {
			return n, errors.New("neither peerASN nor dynamicASN is set")
		}
	case "internal":
		n.PeerASN = asn
	case "external":
		// GoBGP accepts any AS in the peer's OPEN when told none. It
		// cannot refuse an OPEN carrying our own AS, so such a peer
		// becomes an iBGP session, logged when it comes up.
		n.PeerASN = 0
	default:
		return n, fmt.Errorf("dynamicASN %q is neither \"internal\" nor \"external\"", s.DynamicASN)
	}
	if n.Port == 0 {
		n.Port = 179
	}
	if n.HoldTime == 0 {
		n.HoldTime = DefaultHoldTime
	}
	if n.KeepaliveTime == 0 {
		n.KeepaliveTime = n.HoldTime / 3
	}
	if n.ConnectRetry == 0 {
		n.ConnectRetry = DefaultConnectRetry
	}
	return n, nil
}

// chooseRouterID takes the first session's (by peer name) RouterID, else
// the node's first IPv4 address. One GoBGP server has one router ID.
func (p *plan) chooseRouterID(sessions []bgpspec.Session, nodeAddrs []netip.Addr) {
	for _, s := range sessions {
		id := s.RouterID.Unmap()
		if !id.Is4() {
			continue
		}
		if !p.routerID.IsValid() {
			p.routerID, p.routerIDFrom = id, s.Peer
		} else if id != p.routerID {
			p.ignored = append(p.ignored, s.Peer)
			p.problems = append(p.problems, &PeerError{Peer: s.Peer, Err: fmt.Errorf(
				"routerID %s is not used: this node's BGP speaker has one router ID, %s from BGPPeer %q (MetalLB's FRR mode refuses BGPPeers with different routerIDs)",
				id, p.routerID, p.routerIDFrom)})
		}
	}
	if p.routerID.IsValid() {
		return
	}
	for _, a := range nodeAddrs {
		if a = a.Unmap(); a.Is4() {
			p.routerID = a
			return
		}
	}
}

func (p *plan) compileRoutes(paths []bgpspec.Path, nodeAddrs []netip.Addr) {
	noNextHop := map[string]map[bool]bool{} // peer → is4 → reported
	for _, path := range paths {
		prefix := path.Prefix.Masked()
		if !prefix.IsValid() {
			continue
		}
		for _, peer := range path.Peers {
			n, ok := p.neighbors[peer]
			if !ok {
				continue // refused, or not asked for: nothing to send it on
			}
			r := route{Prefix: prefix, LocalPref: path.LocalPref}
			switch is4 := prefix.Addr().Is4(); {
			case is4 && !n.IPv4 || !is4 && !n.IPv6:
				// The agent sends a path only on sessions that carry
				// its family (bgpspec.Session.Carries).
				continue
			case n.Interface != "":
				// GoBGP uses the session's local (link-local) address,
				// for IPv4 paths too (RFC 8950). A path given an IPv6
				// next hop itself would not do: GoBGP's per-session
				// VRFs turn an IPv4 path's next hop into a NEXT_HOP
				// attribute, which cannot hold one.
			case n.SourceAddress.IsValid() && n.SourceAddress.Is4() == is4:
				r.NextHop = n.SourceAddress
			case n.Address.Is4() == is4:
				// GoBGP uses the session's local address.
			default:
				r.NextHop = firstOfFamily(nodeAddrs, is4)
				if !r.NextHop.IsValid() {
					if !noNextHop[peer][is4] {
						if noNextHop[peer] == nil {
							noNextHop[peer] = map[bool]bool{}
						}
						noNextHop[peer][is4] = true
						p.problems = append(p.problems, &PeerError{Peer: peer, Err: fmt.Errorf(
							"%s paths are not sent: the session is over %s and the node has no %s address for their next hop",
							family(is4), family(!is4), family(is4))})
					}
					continue
				}
			}
			r.Communities = uniqueCommunities(path.Communities)
			rs := p.routes[peer]
			if rs == nil {
				rs = map[netip.Prefix]route{}
				p.routes[peer] = rs
			}
			if old, ok := rs[prefix]; ok {
				// Two entries for one prefix: send their union, so the
				// result does not depend on their order.
				r.LocalPref = max(r.LocalPref, old.LocalPref)
				r.Communities = uniqueCommunities(append(r.Communities, old.Communities...))
			}
			rs[prefix] = r
		}
	}
}

func firstOfFamily(addrs []netip.Addr, is4 bool) netip.Addr {
	for _, a := range addrs {
		if a = a.Unmap(); a.IsValid() && a.Is4() == is4 {
			return a
		}
	}
	return netip.Addr{}
}

func family(is4 bool) string {
	if is4 {
		return "IPv4"
	}
	return "IPv6"
}

func uniqueCommunities(cs []config.Community) []config.Community {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b config.Community) int {
		if a.Large != b.Large {
			if a.Large {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.Standard, b.Standard); c != 0 {
			return c
		}
		return slices.Compare(a.LargeValue[:], b.LargeValue[:])
	})
	return slices.Compact(out)
}
