package bgp

import (
	"fmt"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ironlb/ironlb/internal/config"
)

// vrfASN is the administrator part of the route distinguishers and route
// targets of the per-session VRFs. They never leave this process (only
// IPv4/IPv6 unicast is negotiated), so any value works; a private 4-octet
// AS says "local" to anyone reading a dump.
const vrfASN = 4200000000

// ebgpMultiHopTTL is the TTL of a multi-hop eBGP session: the peer may be
// any number of routed hops away.
const ebgpMultiHopTTL = 255

// gracefulShutdownCommunity is RFC 8326's GRACEFUL_SHUTDOWN, 65535:0.
var gracefulShutdownCommunity = config.Community{Standard: 0xFFFF0000}

var (
	familyV4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyV6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

func vrfName(id uint16) string { return fmt.Sprintf("ironlb-%d", id) }

func apiVRF(id uint16) (*api.Vrf, error) {
	rd, err := apiutil.MarshalRD(bgppkt.NewRouteDistinguisherFourOctetAS(vrfASN, id))
	if err != nil {
		return nil, fmt.Errorf("route distinguisher: %w", err)
	}
	rt, err := apiutil.MarshalRT(bgppkt.NewFourOctetAsSpecificExtended(bgppkt.EC_SUBTYPE_ROUTE_TARGET, vrfASN, id, true))
	if err != nil {
		return nil, fmt.Errorf("route target: %w", err)
	}
	return &api.Vrf{Name: vrfName(id), Id: uint32(id), Rd: rd, ImportRt: []*anypb.Any{rt}, ExportRt: []*anypb.Any{rt}}, nil
}

func seconds(d time.Duration) uint64 { return uint64(d / time.Second) }

// apiPeer is n as a GoBGP neighbour in its VRF, offering the families the
// session carries.
func apiPeer(n neighbor, vrf string) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: n.Address.String(),
			PeerAsn:         n.PeerASN,
			LocalAsn:        n.LocalASN,
			AuthPassword:    n.Password,
			Vrf:             vrf,
			Description:     n.Peer,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          seconds(n.HoldTime),
			KeepaliveInterval: seconds(n.KeepaliveTime),
			ConnectRetry:      seconds(n.ConnectRetry),
		}},
		Transport: &api.Transport{RemotePort: uint32(n.Port)},
	}
	switch {
	case n.SourceAddress.IsValid():
		p.Transport.LocalAddress = n.SourceAddress.String()
	case n.Interface != "":
		// Left empty, GoBGP would take the link's link-local address
		// with its zone, which it then cannot parse as the session's
		// local address: paths would go out with the next hop ::. Any
		// address makes it read the connection's own, zone removed.
		p.Transport.LocalAddress = "::"
	}
	if n.EBGPMultiHop {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: ebgpMultiHopTTL}
	}
	if n.GracefulRestart {
		p.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(gracefulRestartTime / time.Second)}
	}
	for _, f := range []*api.Family{familyV4, familyV6} {
		if f == familyV4 && !n.IPv4 || f == familyV6 && !n.IPv6 {
			continue
		}
		af := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
		if n.GracefulRestart {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		p.AfiSafis = append(p.AfiSafis, af)
	}
	return p
}

// apiPath is r as a GoBGP path; withdraw makes it a withdrawal, gshut
// adds the GRACEFUL_SHUTDOWN community.
func apiPath(r route, withdraw, gshut bool) (*api.Path, error) {
	is4 := r.Prefix.Addr().Is4()
	bits := uint8(r.Prefix.Bits())
	addr := r.Prefix.Addr().String()
	attrs := []bgppkt.PathAttributeInterface{bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP)}
	var nlri bgppkt.AddrPrefixInterface
	fam := familyV4
	switch {
	case is4:
		nh := "0.0.0.0"
		if r.NextHop.IsValid() {
			nh = r.NextHop.String()
		}
		nlri = bgppkt.NewIPAddrPrefix(bits, addr)
		attrs = append(attrs, bgppkt.NewPathAttributeNextHop(nh))
	default:
		nh := "::"
		if r.NextHop.IsValid() {
			nh = r.NextHop.String()
		}
		fam = familyV6
		nlri = bgppkt.NewIPv6AddrPrefix(bits, addr)
		attrs = append(attrs, bgppkt.NewPathAttributeMpReachNLRI(nh, []bgppkt.AddrPrefixInterface{nlri}))
	}
	if r.LocalPref != 0 {
		// GoBGP drops LOCAL_PREF towards eBGP peers itself.
		attrs = append(attrs, bgppkt.NewPathAttributeLocalPref(r.LocalPref))
	}
	comms := r.Communities
	if gshut {
		comms = uniqueCommunities(append(comms, gracefulShutdownCommunity))
	}
	var std []uint32
	var large []*bgppkt.LargeCommunity
	for _, c := range comms {
		if c.Large {
			large = append(large, bgppkt.NewLargeCommunity(c.LargeValue[0], c.LargeValue[1], c.LargeValue[2]))
		} else {
			std = append(std, c.Standard)
		}
	}
	if len(std) > 0 {
		attrs = append(attrs, bgppkt.NewPathAttributeCommunities(std))
	}
	if len(large) > 0 {
		attrs = append(attrs, bgppkt.NewPathAttributeLargeCommunities(large))
	}
	n, err := apiutil.MarshalNLRI(nlri)
	if err != nil {
		return nil, fmt.Errorf("prefix %s: %w", r.Prefix, err)
	}
	pattrs, err := apiutil.MarshalPathAttributes(attrs)
	if err != nil {
		return nil, fmt.Errorf("attributes of %s: %w", r.Prefix, err)
	}
	return &api.Path{Family: fam, Nlri: n, Pattrs: pattrs, IsWithdraw: withdraw}, nil
}
