package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
)

// Community is a BGP community: standard (RFC 1997) or large (RFC 8092).
type Community struct {
	Large bool
	// Standard is ASN<<16 | value for a standard community.
	Standard uint32
	// LargeValue is global administrator, local data 1, local data 2.
	LargeValue [3]uint32
}

func (c Community) String() string {
	if c.Large {
		return fmt.Sprintf("large:%d:%d:%d", c.LargeValue[0], c.LargeValue[1], c.LargeValue[2])
	}
	return fmt.Sprintf("%d:%d", c.Standard>>16, c.Standard&0xffff)
}

// ParseCommunity parses "65535:65282" (two 16-bit numbers) or
// "large:1:2:3" (three 32-bit numbers).
func ParseCommunity(s string) (Community, error) {
	if rest, ok := strings.CutPrefix(s, "large:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) != 3 {
			return Community{}, fmt.Errorf("invalid large community %q: want large:GLOBAL:LOCAL1:LOCAL2", s)
		}
		var c Community
		c.Large = true
		for i, p := range parts {
			v, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return Community{}, fmt.Errorf("invalid large community %q: %q is not a 32-bit number", s, p)
			}
			c.LargeValue[i] = uint32(v)
		}
		return c, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 2 {
		return Community{}, fmt.Errorf("invalid community %q: want ASN:VALUE (two 16-bit numbers) or large:GLOBAL:LOCAL1:LOCAL2", s)
	}
	hi, err1 := strconv.ParseUint(parts[0], 10, 16)
	lo, err2 := strconv.ParseUint(parts[1], 10, 16)
	if err1 != nil || err2 != nil {
		return Community{}, fmt.Errorf("invalid community %q: both halves must be numbers from 0 to 65535", s)
	}
	return Community{Standard: uint32(hi)<<16 | uint32(lo)}, nil
}

// parseCommunities validates the Community objects and returns their aliases.
func parseCommunities(ps *problems, in []v1beta1.Community) map[string]Community {
	aliases := map[string]Community{}
	owner := map[string]string{}
	for i := range in {
		obj := &in[i]
		ref := Ref{KindCommunity, obj.Name}
		for j, a := range obj.Spec.Communities {
			field := indexed("spec.communities", j)
			if a.Name == "" {
				ps.add(ref, field+".name", "an alias needs a name")
				continue
			}
			if prev, dup := owner[a.Name]; dup {
				ps.addWith(ref, []Ref{{KindCommunity, prev}}, field+".name", "alias %q is also defined in Community %q", a.Name, prev)
				continue
			}
			c, err := ParseCommunity(a.Value)
			if err != nil {
				ps.add(ref, field+".value", "%v", err)
				continue
			}
			aliases[a.Name], owner[a.Name] = c, obj.Name
		}
	}
	return aliases
}

// minHoldTime is RFC 4271's smallest non-zero hold time.
const minHoldTime = 3 * time.Second

func parsePeers(ps *problems, cfg *Config, in []v1beta2.BGPPeer) {
	// Two peers are one session twice when they reach the same address
	// and port in the same VRF from the same nodes. Node selectors are
	// compared as written: peers for disjoint node sets are legitimate.
	type sessionKey struct {
		addr  string
		port  uint16
		vrf   string
		nodes string
	}
	seen := map[sessionKey]string{}
	for i := range in {
		obj := &in[i]
		ref := Ref{KindBGPPeer, obj.Name}
		s := &obj.Spec
		p := &Peer{
			Name: obj.Name, MyASN: s.MyASN, ASN: s.ASN, LocalASN: s.LocalASN, DynamicASN: s.DynamicASN, Interface: s.Interface,
			Port: s.Port, Password: s.Password, PasswordSecret: s.PasswordSecret.Name, BFDProfile: s.BFDProfile,
			EnableGracefulRestart: s.EnableGracefulRestart, EBGPMultiHop: s.EBGPMultiHop, VRF: s.VRFName,
			DualStackAddressFamily: s.DualStackAddressFamily,
			NodeSelectors:          selectors(ps, ref, "spec.nodeSelectors", s.NodeSelectors),
		}
		if p.Port == 0 {
			p.Port = 179
		}
		if s.MyASN == 0 {
			ps.add(ref, "spec.myASN", "must be set")
		}
		switch {
		case s.ASN != 0 && s.DynamicASN != "":
			ps.add(ref, "spec.peerASN", "set peerASN or dynamicASN, not both")
		case s.ASN == 0 && s.DynamicASN == "":
			ps.add(ref, "spec.peerASN", "set peerASN or dynamicASN")
		}
		if s.EBGPMultiHop && s.ASN != 0 && s.ASN == s.MyASN {
			ps.add(ref, "spec.ebgpMultiHop", "is for eBGP: peerASN equals myASN (%d), an iBGP session, which is multi-hop anyway", s.MyASN)
		}
		switch {
		case s.Address != "" && s.Interface != "":
			ps.add(ref, "spec.peerAddress", "set peerAddress or interface, not both")
		case s.Address == "" && s.Interface == "":
			ps.add(ref, "spec.peerAddress", "set peerAddress or interface")
		case s.Address != "":
			a, err := netip.ParseAddr(s.Address)
			if err != nil {
				ps.add(ref, "spec.peerAddress", "%q is not an IP address", s.Address)
			}
			p.Address = a
		}
		if s.SrcAddress != "" {
			a, err := netip.ParseAddr(s.SrcAddress)
			if err != nil {
				ps.add(ref, "spec.sourceAddress", "%q is not an IP address", s.SrcAddress)
			}
			p.SrcAddress = a
		}
		if s.RouterID != "" {
			a, err := netip.ParseAddr(s.RouterID)
			if err != nil || !a.Is4() {
				ps.add(ref, "spec.routerID", "%q is not an IPv4 address", s.RouterID)
			}
			p.RouterID = a
		}
		parseTimers(ps, ref, s, p)
		if s.ConnectTime != nil {
			p.ConnectTime = s.ConnectTime.Duration
		}
		if s.Password != "" && s.PasswordSecret.Name != "" {
			ps.add(ref, "spec.passwordSecret", "set password or passwordSecret, not both")
		}
		if s.BFDProfile != "" {
			if _, ok := cfg.BFDProfiles[s.BFDProfile]; !ok {
				ps.addTransient(ref, "spec.bfdProfile", "BFDProfile %q does not exist (yet)", s.BFDProfile)
			}
		}
		if s.Address != "" || s.Interface != "" {
			// An unnumbered session is keyed by its interface: one router
			// answers on a point-to-point link.
			addr, field, what := p.Address.String(), "spec.peerAddress", s.Address
			if s.Interface != "" {
				addr, field, what = "interface "+s.Interface, "spec.interface", "interface "+s.Interface
			}
			key := sessionKey{addr, p.Port, s.VRFName, selectorsString(p.NodeSelectors)}
			if prev, dup := seen[key]; dup {
				ps.addWith(ref, []Ref{{KindBGPPeer, prev}}, field,
					"BGPPeer %q already peers with %s port %d (vrf %q) from the same nodes", prev, what, p.Port, s.VRFName)
			} else {
				seen[key] = obj.Name
			}
		}
		cfg.Peers[obj.Name] = p
	}
}

// parseTimers derives the hold and keepalive times as MetalLB does: a hold
// alone gives a keepalive of a third of it, a keepalive alone a hold of
// three keepalives; the hold, in whole seconds, is 0 or at least 3 s, and
// the keepalive no longer than the hold.
func parseTimers(ps *problems, ref Ref, s *v1beta2.BGPPeerSpec, p *Peer) {
	switch {
	case s.HoldTime == nil && s.KeepaliveTime == nil:
		return
	case s.KeepaliveTime == nil:
		p.HoldTime, p.KeepaliveTime = s.HoldTime.Duration, s.HoldTime.Duration/3
	case s.HoldTime == nil:
		p.HoldTime, p.KeepaliveTime = 3*s.KeepaliveTime.Duration, s.KeepaliveTime.Duration
	default:
		p.HoldTime, p.KeepaliveTime = s.HoldTime.Duration, s.KeepaliveTime.Duration
	}
	field := "spec.holdTime"
	if s.HoldTime == nil {
		field = "spec.keepaliveTime"
	}
	// The CRD schema bounds neither, and GoBGP takes unsigned seconds: -5s
	// would become keepalives never sent.
	if p.HoldTime < 0 || p.KeepaliveTime < 0 {
		ps.add(ref, field, "must not be negative, got hold %s, keepalive %s", p.HoldTime, p.KeepaliveTime)
		return
	}
	if whole := p.HoldTime.Truncate(time.Second); whole != 0 && whole < minHoldTime {
		ps.add(ref, field, "the hold time must be 0 or at least 3s, got %s", p.HoldTime)
	}
	if p.KeepaliveTime > p.HoldTime {
		ps.add(ref, "spec.keepaliveTime", "%s must not exceed holdTime %s", p.KeepaliveTime, p.HoldTime)
	}
	if p.NoHoldTimer = p.HoldTime.Truncate(time.Second) == 0; p.NoHoldTimer {
		p.HoldTime, p.KeepaliveTime = 0, 0
		ps.warn(ref, field, "a hold time of 0 (no hold timer, no keepalives) is accepted, as MetalLB does, but IronLB's speakers "+
			"refuse the session (BGPPeerRefused): their BGP implementation cannot turn the hold timer off; set 3s or more")
	}
}

func selectorsString(sels []labels.Selector) string {
	out := make([]string, len(sels))
	for i, s := range sels {
		out[i] = s.String()
	}
	slices.Sort(out)
	return strings.Join(out, "|")
}
