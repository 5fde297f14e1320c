package bgp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/bfd"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

var (
	peerA = netip.MustParseAddr("192.0.2.1")
	peerB = netip.MustParseAddr("192.0.2.2")
	peer6 = netip.MustParseAddr("2001:db8::1")
	node4 = netip.MustParseAddr("10.0.0.1")
	node6 = netip.MustParseAddr("fd00::1")
	// linkRouter is an unnumbered session's router, as the kernel's
	// neighbour table names it.
	linkRouter = netip.MustParseAddr("fe80::9%eth9")
	linkLocal  = netip.MustParseAddr("fe80::2%eth9")
)

func sess(name string, addr netip.Addr, f ...func(*bgpspec.Session)) bgpspec.Session {
	s := bgpspec.Session{Peer: name, MyASN: 64500, PeerASN: 64501, Address: addr}
	for _, fn := range f {
		fn(&s)
	}
	return s
}

var cmpOpts = []cmp.Option{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.EquateEmpty()}

func TestCompileSessions(t *testing.T) {
	tests := []struct {
		name     string
		sessions []bgpspec.Session
		nodes    []netip.Addr
		links    map[string]linkPeer
		want     map[string]neighbor
		problems []string
	}{{
		name:     "zero timers and port take the defaults",
		sessions: []bgpspec.Session{sess("a", peerA)},
		nodes:    []netip.Addr{node4},
		want: map[string]neighbor{"a": {Peer: "a", Address: peerA, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 64501,
			HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry}},
	}, {
		name: "settings are carried over",
		sessions: []bgpspec.Session{sess("a", peerA, func(s *bgpspec.Session) {
			s.Port, s.HoldTime, s.KeepaliveTime, s.ConnectTime = 1179, 9*time.Second, 2*time.Second, 5*time.Second
			s.Password, s.EBGPMultiHop, s.EnableGracefulRestart, s.SourceAddress = "pw", true, true, node4
		})},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{"a": {Peer: "a", Address: peerA, IPv4: true, Port: 1179, LocalASN: 64500, PeerASN: 64501, SourceAddress: node4,
			HoldTime: 9 * time.Second, KeepaliveTime: 2 * time.Second, ConnectRetry: 5 * time.Second,
			Password: "pw", EBGPMultiHop: true, GracefulRestart: true}},
	}, {
		name: "dynamic internal peers with our own AS, external with any",
		sessions: []bgpspec.Session{
			sess("int", peerA, func(s *bgpspec.Session) { s.PeerASN, s.DynamicASN = 0, "internal" }),
			sess("ext", peerB, func(s *bgpspec.Session) { s.PeerASN, s.DynamicASN = 0, "external" }),
		},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{
			"int": {Peer: "int", Address: peerA, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 64500, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
			"ext": {Peer: "ext", Address: peerB, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 0, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
		},
	}, {
		name: "sessions with different local ASes are all kept",
		sessions: []bgpspec.Session{
			sess("a", peerA), sess("b", peerB, func(s *bgpspec.Session) { s.MyASN = 64999 }),
		},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{
			"a": {Peer: "a", Address: peerA, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 64501, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
			"b": {Peer: "b", Address: peerB, IPv4: true, Port: 179, LocalASN: 64999, PeerASN: 64501, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
		},
	}, {
		name: "broken sessions are refused by name, the rest kept",
		sessions: []bgpspec.Session{
			sess("no-asn", peerA, func(s *bgpspec.Session) { s.PeerASN = 0 }),
			sess("bad-dynamic", peerA, func(s *bgpspec.Session) { s.PeerASN, s.DynamicASN = 0, "sideways" }),
			sess("no-my-asn", peerA, func(s *bgpspec.Session) { s.MyASN = 0 }),
			sess("mixed", peerA, func(s *bgpspec.Session) { s.SourceAddress = node6 }),
			sess("no-address", netip.Addr{}),
			sess("ok", peerB),
			sess("same-address", peerB),
		},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{"ok": {Peer: "ok", Address: peerB, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 64501,
			HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry}},
		problems: []string{
			`BGP session "bad-dynamic" refused: dynamicASN "sideways" is neither "internal" nor "external"`,
			`BGP session "mixed" refused: source address fd00::1 and peer address 192.0.2.1 are of different families`,
			`BGP session "no-address" refused: no peer address`,
			`BGP session "no-asn" refused: neither peerASN nor dynamicASN is set`,
			`BGP session "no-my-asn" refused: myASN is not set`,
			`BGP session "same-address" refused: peer address 192.0.2.2 is already used by session "ok"`,
		},
	}, {
		name: "localASN is presented instead of myASN, also to a dynamic internal peer",
		sessions: []bgpspec.Session{
			sess("a", peerA, func(s *bgpspec.Session) { s.LocalASN = 64999 }),
			sess("int", peerB, func(s *bgpspec.Session) { s.LocalASN, s.PeerASN, s.DynamicASN = 64999, 0, "internal" }),
		},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{
			"a":   {Peer: "a", Address: peerA, IPv4: true, Port: 179, LocalASN: 64999, PeerASN: 64501, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
			"int": {Peer: "int", Address: peerB, IPv4: true, Port: 179, LocalASN: 64999, PeerASN: 64999, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
		},
	}, {
		name:     "no hold timer is refused, not run with the default",
		sessions: []bgpspec.Session{sess("a", peerA, func(s *bgpspec.Session) { s.NoHoldTimer = true })},
		nodes:    []netip.Addr{node4},
		problems: []string{`BGP session "a" refused: holdTime 0 asks for no hold timer and no keepalives, which IronLB's BGP speaker cannot do (GoBGP would run the session with its 90s default); set holdTime to 3s or more`},
	}, {
		name: "a BFD profile: the session follows BFD, from the node's address of the peer's family",
		sessions: []bgpspec.Session{sess("a", peerA, func(s *bgpspec.Session) {
			s.BFDProfile = "fast"
			s.BFD = bgpspec.BFD{ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 200 * time.Millisecond, DetectMultiplier: 4, MinimumTTL: 254, PassiveMode: true}
		})},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{"a": {Peer: "a", Address: peerA, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 64501,
			HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry,
			BFD: bfdSession{On: true, Peer: bfd.Peer{Local: node4, Remote: peerA, MinTTL: 254},
				Config: bfd.Config{DesiredMinTx: 200 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond, DetectMult: 4, Passive: true}}}},
	}, {
		name: "BFD of an ebgpMultiHop peer is multihop, from the source address",
		sessions: []bgpspec.Session{sess("a", peerA, func(s *bgpspec.Session) {
			s.BFDProfile, s.EBGPMultiHop, s.SourceAddress = "fast", true, netip.MustParseAddr("192.0.2.99")
			s.BFD = bgpspec.BFD{ReceiveInterval: time.Second, TransmitInterval: time.Second, DetectMultiplier: 3, MinimumTTL: 250}
		})},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{"a": {Peer: "a", Address: peerA, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 64501,
			HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry,
			SourceAddress: netip.MustParseAddr("192.0.2.99"), EBGPMultiHop: true,
			BFD: bfdSession{On: true, Peer: bfd.Peer{Local: netip.MustParseAddr("192.0.2.99"), Remote: peerA, Multihop: true, MinTTL: 250},
				Config: bfd.Config{DesiredMinTx: time.Second, RequiredMinRx: time.Second, DetectMult: 3}}}},
	}, {
		name: "echo mode is reported, BFD runs without it",
		sessions: []bgpspec.Session{sess("a", peerA, func(s *bgpspec.Session) {
			s.BFDProfile = "echo"
			s.BFD = bgpspec.BFD{ReceiveInterval: time.Second, TransmitInterval: time.Second, DetectMultiplier: 3, EchoMode: true}
		})},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{"a": {Peer: "a", Address: peerA, IPv4: true, Port: 179, LocalASN: 64500, PeerASN: 64501,
			HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry,
			BFD: bfdSession{On: true, Peer: bfd.Peer{Local: node4, Remote: peerA},
				Config: bfd.Config{DesiredMinTx: time.Second, RequiredMinRx: time.Second, DetectMult: 3}}}},
		problems: []string{`BGP session "a": BFD profile "echo": echoMode: the BFD echo function is not supported; BFD runs in asynchronous mode only, detecting within detectMultiplier × the negotiated interval`},
	}, {
		name: "BFD with no local address of the peer's family refuses the session",
		sessions: []bgpspec.Session{sess("a", peer6, func(s *bgpspec.Session) {
			s.BFDProfile = "fast"
			s.RouterID = node4
		})},
		nodes:    []netip.Addr{node4},
		problems: []string{`BGP session "a" refused: BFD profile "fast": no local IPv6 address to run BFD from: set the BGPPeer's sourceAddress`},
	}, {
		name: "dualStackAddressFamily offers both families; without it, the peer's own",
		sessions: []bgpspec.Session{
			sess("dual", peerA, func(s *bgpspec.Session) { s.DualStack = true }),
			sess("v6", peer6),
		},
		nodes: []netip.Addr{node4},
		want: map[string]neighbor{
			"dual": {Peer: "dual", Address: peerA, IPv4: true, IPv6: true, Port: 179, LocalASN: 64500, PeerASN: 64501, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
			"v6":   {Peer: "v6", Address: peer6, IPv6: true, Port: 179, LocalASN: 64500, PeerASN: 64501, HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry},
		},
	}, {
		name:     "unnumbered: the router found on the link, both families",
		sessions: []bgpspec.Session{sess("link", netip.Addr{}, func(s *bgpspec.Session) { s.Interface = "eth9" })},
		nodes:    []netip.Addr{node4},
		links:    map[string]linkPeer{"eth9": {Addr: linkRouter}},
		want: map[string]neighbor{"link": {Peer: "link", Address: linkRouter, Interface: "eth9", IPv4: true, IPv6: true, Port: 179, LocalASN: 64500, PeerASN: 64501,
			HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry}},
	}, {
		name: "unnumbered: no router found yet, with and without the lookup's reason",
		sessions: []bgpspec.Session{
			sess("quiet", netip.Addr{}, func(s *bgpspec.Session) { s.Interface = "eth8" }),
			sess("crowded", netip.Addr{}, func(s *bgpspec.Session) { s.Interface = "eth9" }),
		},
		nodes: []netip.Addr{node4},
		links: map[string]linkPeer{"eth9": {Err: errors.New("found 2 link-local neighbors. only support p2p link")}},
		problems: []string{
			`BGP session "crowded": unnumbered session on eth9 waits for its router: found 2 link-local neighbors. only support p2p link`,
			`BGP session "quiet": unnumbered session on eth8 waits for its router: no router heard on it yet (it is found by its IPv6 link-local address; the router's Router Advertisements must be on)`,
		},
	}, {
		name: "unnumbered: a source address is refused; BFD runs single hop between the link-local addresses",
		sessions: []bgpspec.Session{
			sess("src", netip.Addr{}, func(s *bgpspec.Session) { s.Interface, s.SourceAddress = "eth8", node4 }),
			sess("bfd", netip.Addr{}, func(s *bgpspec.Session) {
				s.Interface, s.BFDProfile = "eth9", "fast"
				s.BFD = bgpspec.BFD{ReceiveInterval: time.Second, TransmitInterval: time.Second, DetectMultiplier: 3}
			}),
		},
		nodes: []netip.Addr{node4},
		links: map[string]linkPeer{"eth8": {Addr: netip.MustParseAddr("fe80::8%eth8")}, "eth9": {Addr: linkRouter, Local: linkLocal}},
		want: map[string]neighbor{"bfd": {Peer: "bfd", Address: linkRouter, Interface: "eth9", IPv4: true, IPv6: true, Port: 179, LocalASN: 64500, PeerASN: 64501,
			HoldTime: DefaultHoldTime, KeepaliveTime: DefaultHoldTime / 3, ConnectRetry: DefaultConnectRetry,
			BFD: bfdSession{On: true, Peer: bfd.Peer{Local: linkLocal, Remote: linkRouter},
				Config: bfd.Config{DesiredMinTx: time.Second, RequiredMinRx: time.Second, DetectMult: 3}}}},
		problems: []string{
			`BGP session "src" refused: sourceAddress 10.0.0.1 cannot be used on an unnumbered session (interface eth8), which runs from the link's IPv6 link-local address`,
		},
	}, {
		name: "unnumbered BFD without a link-local address of ours refuses the session",
		sessions: []bgpspec.Session{sess("bfd", netip.Addr{}, func(s *bgpspec.Session) {
			s.Interface, s.BFDProfile = "eth9", "fast"
			s.BFD = bgpspec.BFD{ReceiveInterval: time.Second, TransmitInterval: time.Second, DetectMultiplier: 3}
		})},
		nodes:    []netip.Addr{node4},
		links:    map[string]linkPeer{"eth9": {Addr: linkRouter}},
		problems: []string{`BGP session "bfd" refused: BFD profile "fast": no IPv6 link-local address of this node on eth9 to run BFD from`},
	}, {
		name:     "no router ID at all refuses every session",
		sessions: []bgpspec.Session{sess("a", peer6)},
		nodes:    []netip.Addr{node6},
		problems: []string{`BGP session "a" refused: no router ID: the BGPPeer sets no routerID and the node has no IPv4 address`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(bgpspec.Desired{Sessions: tc.sessions}, tc.nodes, tc.links)
			if diff := cmp.Diff(tc.want, p.neighbors, cmpOpts...); diff != "" {
				t.Errorf("neighbours (-want +got):\n%s", diff)
			}
			var got []string
			for _, pe := range p.problems {
				got = append(got, pe.Error())
			}
			if diff := cmp.Diff(tc.problems, got, cmpOpts...); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileRouterID(t *testing.T) {
	id := func(a string) func(*bgpspec.Session) {
		return func(s *bgpspec.Session) { s.RouterID = netip.MustParseAddr(a) }
	}
	tests := []struct {
		name     string
		sessions []bgpspec.Session
		want     netip.Addr
		ignored  []string
		problems []string
	}{
		{name: "the node's IPv4 address without a session's", sessions: []bgpspec.Session{sess("a", peerA)}, want: node4},
		{name: "a session's wins over the node's", sessions: []bgpspec.Session{sess("a", peerA, id("10.9.9.9"))}, want: netip.MustParseAddr("10.9.9.9")},
		{
			name:     "disagreeing sessions: the first by name wins, whatever the order",
			sessions: []bgpspec.Session{sess("b", peerB, id("10.2.2.2")), sess("a", peerA, id("10.1.1.1"))},
			want:     netip.MustParseAddr("10.1.1.1"), ignored: []string{"b"},
			problems: []string{`BGP session "b": routerID 10.2.2.2 is not used: this node's BGP speaker has one router ID, 10.1.1.1 from BGPPeer "a" (MetalLB's FRR mode refuses BGPPeers with different routerIDs)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(bgpspec.Desired{Sessions: tc.sessions}, []netip.Addr{node6, node4}, nil)
			if p.routerID != tc.want {
				t.Errorf("router ID %s, want %s", p.routerID, tc.want)
			}
			if diff := cmp.Diff(tc.ignored, p.ignored, cmpOpts...); diff != "" {
				t.Errorf("ignored (-want +got):\n%s", diff)
			}
			var got []string
			for _, pe := range p.problems {
				got = append(got, pe.Error())
			}
			if diff := cmp.Diff(tc.problems, got, cmpOpts...); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileRoutes(t *testing.T) {
	c1 := config.Community{Standard: 1}
	c2 := config.Community{Large: true, LargeValue: [3]uint32{1, 2, 3}}
	dual := func(s *bgpspec.Session) { s.DualStack = true }
	sessions := []bgpspec.Session{
		sess("v4", peerA, dual),
		sess("v4src", peerB, func(s *bgpspec.Session) { s.SourceAddress = netip.MustParseAddr("10.0.0.7") }),
		sess("v6", peer6, dual),
		sess("v6only", netip.MustParseAddr("2001:db8::2")),
		sess("link", netip.Addr{}, func(s *bgpspec.Session) { s.Interface = "eth9" }),
	}
	links := map[string]linkPeer{"eth9": {Addr: linkRouter}}
	tests := []struct {
		name     string
		paths    []bgpspec.Path
		nodes    []netip.Addr
		want     map[string]map[netip.Prefix]route
		problems []string
	}{{
		name:  "same family: the session's own address, or its source address",
		paths: []bgpspec.Path{{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Peers: []string{"v4", "v4src"}, LocalPref: 50}},
		nodes: []netip.Addr{node4},
		want: map[string]map[netip.Prefix]route{
			"v4":    {netip.MustParsePrefix("192.0.2.10/32"): {Prefix: netip.MustParsePrefix("192.0.2.10/32"), LocalPref: 50}},
			"v4src": {netip.MustParsePrefix("192.0.2.10/32"): {Prefix: netip.MustParsePrefix("192.0.2.10/32"), LocalPref: 50, NextHop: netip.MustParseAddr("10.0.0.7")}},
		},
	}, {
		name:  "other family: the node's address of the path's family",
		paths: []bgpspec.Path{{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Peers: []string{"v6"}}},
		nodes: []netip.Addr{node6, node4},
		want: map[string]map[netip.Prefix]route{
			"v6": {netip.MustParsePrefix("192.0.2.10/32"): {Prefix: netip.MustParsePrefix("192.0.2.10/32"), NextHop: node4}},
		},
	}, {
		name: "other family without a node address: reported once, not sent",
		paths: []bgpspec.Path{
			{Prefix: netip.MustParsePrefix("2001:db8::10/128"), Peers: []string{"v4"}},
			{Prefix: netip.MustParsePrefix("2001:db8::11/128"), Peers: []string{"v4"}},
		},
		nodes:    []netip.Addr{node4},
		problems: []string{`BGP session "v4": IPv6 paths are not sent: the session is over IPv4 and the node has no IPv6 address for their next hop`},
	}, {
		name: "without dualStackAddressFamily a session carries its own family only",
		paths: []bgpspec.Path{
			{Prefix: netip.MustParsePrefix("2001:db8::10/128"), Peers: []string{"v4src"}},
			{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Peers: []string{"v6only"}},
		},
		nodes: []netip.Addr{node4, node6},
	}, {
		name: "unnumbered: both families, next hop left to GoBGP (the link-local address; RFC 8950 for IPv4)",
		paths: []bgpspec.Path{
			{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Peers: []string{"link"}},
			{Prefix: netip.MustParsePrefix("2001:db8::10/128"), Peers: []string{"link"}},
		},
		nodes: []netip.Addr{node4, node6},
		want: map[string]map[netip.Prefix]route{"link": {
			netip.MustParsePrefix("192.0.2.10/32"):    {Prefix: netip.MustParsePrefix("192.0.2.10/32")},
			netip.MustParsePrefix("2001:db8::10/128"): {Prefix: netip.MustParsePrefix("2001:db8::10/128")},
		}},
	}, {
		name: "one prefix twice: the union, in any order",
		paths: []bgpspec.Path{
			{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Peers: []string{"v4"}, LocalPref: 10, Communities: []config.Community{c2, c1}},
			{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Peers: []string{"v4"}, LocalPref: 20, Communities: []config.Community{c1}},
		},
		nodes: []netip.Addr{node4},
		want: map[string]map[netip.Prefix]route{
			"v4": {netip.MustParsePrefix("192.0.2.10/32"): {Prefix: netip.MustParsePrefix("192.0.2.10/32"), LocalPref: 20, Communities: []config.Community{c1, c2}}},
		},
	}, {
		name:  "unknown peers and unmasked prefixes",
		paths: []bgpspec.Path{{Prefix: netip.MustParsePrefix("192.0.2.10/24"), Peers: []string{"nobody", "v4"}}},
		nodes: []netip.Addr{node4},
		want: map[string]map[netip.Prefix]route{
			"v4": {netip.MustParsePrefix("192.0.2.0/24"): {Prefix: netip.MustParsePrefix("192.0.2.0/24")}},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(bgpspec.Desired{Sessions: sessions, Paths: tc.paths}, tc.nodes, links)
			if diff := cmp.Diff(tc.want, p.routes, cmpOpts...); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			var got []string
			for _, pe := range p.problems {
				got = append(got, pe.Error())
			}
			if diff := cmp.Diff(tc.problems, got, cmpOpts...); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
