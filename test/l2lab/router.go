package l2lab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/test/frr"
)

// The upstream router of Options.Router and the network behind it, where
// RouterClient lives: a client there reaches a VIP only through the
// router's BGP routes. Private ranges, only inside the lab's namespaces.
const (
	RouterIP        = "10.250.0.254"
	RouterIP6       = "fd00:250::254"
	RouterClientIP  = "10.251.0.10"
	RouterClientIP6 = "fd00:251::10"
	behindNet       = "10.251.0.0/24"
	behindNet6      = "fd00:251::/64"
	behindGateway   = "10.251.0.1"
	behindGateway6  = "fd00:251::1"
)

// startRouter adds the router namespace on the bridge running FRR with
// cfg, the client namespace behind it, and routes on every node back to
// that client through the router (nodes have no default route).
func (c *Cluster) startRouter(cfg frr.Config) {
	c.t.Helper()
	if cfg.Name == "" {
		cfg.Name = "router"
	}
	c.Router = c.AddRouter(cfg.Name, RouterIP, RouterIP6, cfg)
	c.RouterClient = c.Lab.Stub(c.Router.NS, "eth1", "rclient",
		[]string{behindGateway + "/24", behindGateway6 + "/64"}, []string{RouterClientIP + "/24", RouterClientIP6 + "/64"})
	c.ns(c.RouterClient, "ip", "route", "add", "default", "via", behindGateway)
	c.ns(c.RouterClient, "ip", "-6", "route", "add", "default", "via", behindGateway6)
	for _, n := range c.Nodes {
		c.routeToRouterClient(n)
	}
}

// routeToRouterClient routes the node's answers to the network behind the
// router. The kernel deletes these routes when the node's link goes down.
func (c *Cluster) routeToRouterClient(node string) {
	c.ns(c.Hosts[node], "ip", "route", "replace", behindNet, "via", RouterIP)
	c.ns(c.Hosts[node], "ip", "-6", "route", "replace", behindNet6, "via", RouterIP6)
}

// AddRouter adds a namespace on the bridge with the addresses (IPv4 /24,
// IPv6 /64 of the lab's subnets) running FRR with cfg; it forwards, and
// spreads flows over ECMP next hops by ports too (a client's connections
// then reach every node). It is stopped when the test ends.
func (c *Cluster) AddRouter(name, ip4, ip6 string, cfg frr.Config) *frr.Router {
	c.t.Helper()
	ns := c.Lab.Host(name, ip4+"/24", ip6+"/64")
	c.ns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1")
	if cfg.Name == "" {
		cfg.Name = name
	}
	if !cfg.RouterID.IsValid() {
		cfg.RouterID = netip.MustParseAddr(ip4)
	}
	r := frr.Start(c.t, ns, cfg)
	c.t.Cleanup(func() {
		if f, ok := c.t.(interface{ Failed() bool }); ok && f.Failed() {
			c.t.Errorf("%s", keepRouterLogs(r))
		}
	})
	return r
}

// NodeNeighbors returns one FRR neighbour per node at its IPv4 address and
// one at its IPv6 address, of AS asn, with the password (none if "").
func (c *Cluster) NodeNeighbors(asn uint32, password string) []frr.Neighbor {
	var out []frr.Neighbor
	for _, n := range c.Nodes {
		out = append(out, frr.Neighbor{Address: netip.MustParseAddr(c.NodeIP(n)), ASN: asn, Password: password},
			frr.Neighbor{Address: netip.MustParseAddr(c.NodeIP6(n)), ASN: asn, Password: password})
	}
	return out
}

// NodeIP6 is the node's IPv6 address on the lab network.
func (c *Cluster) NodeIP6(node string) string {
	if i := indexOf(c.Nodes, node); i >= 0 {
		return fmt.Sprintf("fd00:250::%d", i+2)
	}
	return ""
}

// NodeByIP returns the node with the address (IPv4 or IPv6), "" if none.
func (c *Cluster) NodeByIP(a netip.Addr) string {
	for _, n := range c.Nodes {
		if a.String() == c.NodeIP(n) || a.String() == c.NodeIP6(n) {
			return n
		}
	}
	return ""
}

// BGPStatuses returns, per node, the peers of the Service's
// ServiceBGPStatus objects, each sorted.
func (c *Cluster) BGPStatuses(name string) map[string][]string {
	var list v1beta1.ServiceBGPStatusList
	c.must(c.Env.Client.List(context.Background(), &list, client.InNamespace(Namespace)))
	out := map[string][]string{}
	for _, s := range list.Items {
		if s.Status.ServiceName == name && s.Status.ServiceNamespace == "default" {
			out[s.Status.Node] = append(out[s.Status.Node], s.Status.Peers...)
			slices.Sort(out[s.Status.Node])
		}
	}
	return out
}

func (c *Cluster) ns(ns string, args ...string) {
	c.t.Helper()
	if out, err := c.Lab.Exec(ns, args...); err != nil {
		c.t.Fatalf("%v in %s: %v: %s", args, ns, err, out)
	}
}
