// Package bgpspec is what one node wants from BGP, as plain values: the
// sessions it keeps and the paths it sends on each. The agent computes it
// from the cluster's state; speaker/bgp makes an embedded BGP server match
// it. Neither side needs the other to be tested.
package bgpspec

import (
	"net/netip"
	"time"

	"github.com/ironlb/ironlb/internal/config"
)

// Desired is everything this node should be doing over BGP. Applying the
// same Desired twice changes nothing; applying a new one touches only the
// sessions and paths that differ.
type Desired struct {
	Sessions []Session
	Paths    []Path
}

// Session is one BGP session this node keeps, from a BGPPeer whose node
// selectors match the node.
type Session struct {
	// Peer is the BGPPeer's name: metric label, status entry, log key.
	Peer string
	// MyASN, PeerASN: PeerASN is 0 when DynamicASN is set. LocalASN, when
	// set, is presented to the peer instead of MyASN.
	MyASN, PeerASN, LocalASN uint32
	DynamicASN               string // "", "internal" or "external"
	// Address is the peer's; zero when Interface is set.
	Address netip.Addr
	// Interface, when set, makes the session unnumbered: with the one
	// router found on that point-to-point link by its IPv6 link-local
	// address, carrying IPv4 paths with an IPv6 next hop (RFC 8950).
	Interface string
	// DualStack: the session carries both unicast families; otherwise
	// only its peer address's (an unnumbered session carries both).
	DualStack     bool
	Port          uint16
	SourceAddress netip.Addr    // zero: the kernel chooses
	RouterID      netip.Addr    // zero: the node's address
	HoldTime      time.Duration // zero: the speaker's default
	KeepaliveTime time.Duration
	// NoHoldTimer: the BGPPeer asked for a hold time of 0 (no hold timer,
	// no keepalives).
	NoHoldTimer bool
	ConnectTime time.Duration
	// Password is the MD5 password, inline or resolved from the Secret
	// the BGPPeer names before it reaches the agent.
	Password              string
	EBGPMultiHop          bool
	EnableGracefulRestart bool
	// BFDProfile is the BFDProfile the peer names ("" for none), and BFD
	// its settings: the session runs BFD and follows it.
	BFDProfile string
	BFD        BFD
}

// Carries reports whether the session carries paths for ip's family: its
// peer address's family, both with DualStack or on an Interface.
func (s Session) Carries(ip netip.Addr) bool {
	if s.DualStack || s.Interface != "" {
		return true
	}
	return s.Address.Unmap().Is4() == ip.Unmap().Is4()
}

// BFD is a BFDProfile's settings, MetalLB's defaults filled in.
type BFD struct {
	ReceiveInterval, TransmitInterval, EchoInterval time.Duration
	DetectMultiplier, MinimumTTL                    uint8
	EchoMode, PassiveMode                           bool
}

// MetalLB's (and FRR's) BFDProfile defaults.
const (
	DefaultBFDInterval   = 300 * time.Millisecond
	DefaultBFDMultiplier = 3
	DefaultBFDEcho       = 50 * time.Millisecond
	DefaultBFDMinimumTTL = 254
)

// Path is one prefix sent on some sessions, with its attributes.
type Path struct {
	// Prefix is the VIP masked to the advertisement's aggregation length.
	Prefix netip.Prefix
	// Services are the Services whose VIPs the prefix covers ("ns/name").
	Services []string
	// Peers are the sessions (by Peer name) the path is sent on.
	Peers []string
	// LocalPref is sent to iBGP peers only; 0 means unset.
	LocalPref   uint32
	Communities []config.Community
}
