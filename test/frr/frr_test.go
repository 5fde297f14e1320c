//go:build e2e

package frr

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/test/netns"
	"github.com/ironlb/ironlb/test/poll"
)

var (
	pfx   = netip.MustParsePrefix
	addr  = netip.MustParseAddr
	learn = 30 * time.Second // bound of every wait below; sessions come up in ~1 s
)

// TestRouters runs four real FRRs on one bridge: r learns 192.0.2.0/24
// from a and b (eBGP, two ASes, one with MD5) and installs it in its
// kernel with two ECMP next hops; b's IPv6 prefix arrives over a listen
// range; c's session, whose MD5 password is wrong, stays down.
func TestRouters(t *testing.T) {
	lab := netns.New(t)
	nsR := lab.Host("r", "10.98.0.1/24", "fd00:98::1/64")
	nsA := lab.Host("a", "10.98.0.2/24")
	nsB := lab.Host("b", "10.98.0.3/24", "fd00:98::3/64")
	nsC := lab.Host("c", "10.98.0.4/24")

	r := Start(t, nsR, Config{Name: "r", ASN: 64500, RouterID: addr("10.98.0.1"), Neighbors: []Neighbor{
		{Address: addr("10.98.0.2"), ASN: 64501, Password: "s3cret"},
		{Address: addr("10.98.0.3"), ASN: 64502},
		{Address: addr("10.98.0.4"), ASN: 64503, Password: "right"},
		{Range: pfx("fd00:98::/64")},
	}})
	Start(t, nsA, Config{Name: "a", ASN: 64501, RouterID: addr("10.98.0.2"), Networks: []netip.Prefix{pfx("192.0.2.0/24")},
		Neighbors: []Neighbor{{Address: addr("10.98.0.1"), ASN: 64500, Password: "s3cret"}}})
	Start(t, nsB, Config{Name: "b", ASN: 64502, RouterID: addr("10.98.0.3"), Networks: []netip.Prefix{pfx("192.0.2.0/24"), pfx("2001:db8:1::/64")},
		Neighbors: []Neighbor{{Address: addr("10.98.0.1"), ASN: 64500}, {Address: addr("fd00:98::1"), ASN: 64500}}})
	Start(t, nsC, Config{Name: "c", ASN: 64503, RouterID: addr("10.98.0.4"), Networks: []netip.Prefix{pfx("198.51.100.0/24")},
		Neighbors: []Neighbor{{Address: addr("10.98.0.1"), ASN: 64500, Password: "wrong"}}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.Logs())
		}
	})

	want := []netip.Addr{addr("10.98.0.2"), addr("10.98.0.3")}
	wait(t, "r learning 192.0.2.0/24 from a and b, both in the kernel", func() string {
		peers, err := r.Peers(pfx("192.0.2.0/24"))
		if err != nil {
			return err.Error()
		}
		hops, err := r.KernelNextHops(pfx("192.0.2.0/24"))
		if err != nil {
			return err.Error()
		}
		if !slices.Equal(peers, want) || !slices.Equal(hops, want) {
			return fmt.Sprintf("BGP paths from %v, kernel next hops %v", peers, hops)
		}
		return ""
	})
	paths, err := r.Paths(pfx("192.0.2.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if !p.Valid || (!p.Best && !p.Multipath) || p.NextHop != p.Peer {
			t.Errorf("path %+v: want valid, selected (best or multipath), next hop = its peer", p)
		}
	}

	wait(t, "r learning 2001:db8:1::/64 from b over the listen range", func() string {
		paths, err := r.Paths(pfx("2001:db8:1::/64"))
		if err != nil {
			return err.Error()
		}
		if len(paths) != 1 || paths[0].Peer != addr("fd00:98::3") || paths[0].NextHop != addr("fd00:98::3") || paths[0].ASPath != "64502" {
			return fmt.Sprintf("paths %+v", paths)
		}
		return ""
	})

	// c has been trying for as long as the others took to establish.
	n, err := r.Neighbors()
	if err != nil {
		t.Fatal(err)
	}
	if got := n[addr("10.98.0.4")]; got.State == "Established" || got.ASN != 64503 {
		t.Errorf("neighbour c with a wrong MD5 password: %+v, want configured (AS 64503) and not Established", got)
	}
	if got := n[addr("10.98.0.2")]; got.State != "Established" || got.HoldTime != 3*time.Second {
		t.Errorf("neighbour a: %+v, want Established with a 3s hold time", got)
	}
	if paths, err := r.Paths(pfx("198.51.100.0/24")); err != nil || len(paths) != 0 {
		t.Errorf("c's prefix: paths %+v, %v; want none", paths, err)
	}

	// a stops: its path and its kernel next hop go, b's stay.
	if err := r.Configure("router bgp 64500", "neighbor 10.98.0.2 shutdown"); err != nil {
		t.Fatal(err)
	}
	wait(t, "r keeping only b's path", func() string {
		peers, _ := r.Peers(pfx("192.0.2.0/24"))
		hops, _ := r.KernelNextHops(pfx("192.0.2.0/24"))
		if !slices.Equal(peers, want[1:]) || !slices.Equal(hops, want[1:]) {
			return fmt.Sprintf("BGP paths from %v, kernel next hops %v", peers, hops)
		}
		return ""
	})
}

func TestRender(t *testing.T) {
	got := Render(Config{Name: "x", ASN: 65000, Neighbors: []Neighbor{
		{Address: addr("10.0.0.2"), ASN: 65001, Password: "pw"},
		{Range: pfx("fd00::/64")},
		{Interface: "eth1", ASN: 65002},
		{Address: addr("10.0.0.3"), DualStack: true},
	}, Networks: []netip.Prefix{pfx("10.1.0.0/16")}})
	for _, want := range []string{
		"router bgp 65000\n",
		" neighbor eth1 interface remote-as 65002\n",
		" neighbor 10.0.0.2 remote-as 65001\n",
		" neighbor 10.0.0.2 password pw\n",
		" neighbor RANGE1 remote-as external\n",
		" bgp listen range fd00::/64 peer-group RANGE1\n",
		" address-family ipv4 unicast\n  neighbor 10.0.0.2 activate\n  neighbor eth1 activate\n  neighbor 10.0.0.3 activate\n  network 10.1.0.0/16\n  maximum-paths 8\n",
		" address-family ipv6 unicast\n  neighbor RANGE1 activate\n  neighbor eth1 activate\n  neighbor 10.0.0.3 activate\n  maximum-paths 8\n",
		" timers bgp 1 3\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("frr.conf lacks %q:\n%s", want, got)
		}
	}
}

func TestParseRoutes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []netip.Addr
	}{
		{``, nil},
		{`[]`, nil},
		{`[{"dst":"192.0.2.0/24","nhid":6,"gateway":"10.0.0.2","dev":"eth0","protocol":"bgp","metric":20,"flags":[]}]`, []netip.Addr{addr("10.0.0.2")}},
		{`[{"dst":"192.0.2.0/24","nhid":9,"protocol":"bgp","metric":20,"flags":[],"nexthops":[{"gateway":"10.0.0.3","dev":"eth0","weight":1,"flags":[]},{"gateway":"10.0.0.2","dev":"eth0","weight":1,"flags":[]}]}]`,
			[]netip.Addr{addr("10.0.0.2"), addr("10.0.0.3")}},
		// IPv4 via IPv6 link-local next hops (unnumbered, RFC 8950).
		{`[{"dst":"192.0.2.0/24","via":{"family":"inet6","host":"fe80::1"},"dev":"va","flags":[]}]`, []netip.Addr{addr("fe80::1")}},
		{`[{"dst":"192.0.2.0/24","flags":[],"nexthops":[{"via":{"family":"inet6","host":"fe80::2"},"dev":"vb","weight":1,"flags":[]},{"via":{"family":"inet6","host":"fe80::1"},"dev":"va","weight":1,"flags":[]}]}]`,
			[]netip.Addr{addr("fe80::1"), addr("fe80::2")}},
	} {
		got, err := parseRoutes([]byte(tc.in))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseRoutes(%s) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// wait polls cond every 100 ms until it returns "" or learn passes.
func wait(t *testing.T, what string, cond func() string) {
	t.Helper()
	poll.Until(t, what, learn, 100*time.Millisecond, cond)
}
