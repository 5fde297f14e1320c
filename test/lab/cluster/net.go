package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/ironlb/ironlb/test/netns"
)

// run runs a command and returns its error with the command line and its
// output (netns.Run: one runner for both labs).
func run(args ...string) error { return netns.Run(args...) }

// runAll runs commands in order and stops at the first error.
func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	return nil
}

// checkFree refuses a lab whose ranges the machine already routes (another
// lab, a docker network, a VPN): the lab would steal or lose its traffic.
func checkFree(p *Plan, names []string) error {
	out, err := exec.Command("ip", "-j", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	var routes []struct {
		Dst, Dev, Type string
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return fmt.Errorf("parsing routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == "default" || r.Dst == "" {
			continue
		}
		dst, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, err := netip.ParseAddr(r.Dst)
			if err != nil {
				continue
			}
			dst = netip.PrefixFrom(a, a.BitLen())
		}
		if o := p.Overlaps(dst); len(o) > 0 {
			return fmt.Errorf("the machine already routes %s (dev %s), which overlaps the lab's %s: another lab or network uses it; delete it first (ironlab get clusters)", r.Dst, r.Dev, o[0])
		}
	}
	for _, n := range names {
		if _, err := os.Stat(NetnsPath(n)); err == nil {
			return fmt.Errorf("network namespace %s exists already: another lab uses the name; delete it first", n)
		}
	}
	return nil
}

// addBridge makes the host's side of the lab network: kind's docker
// bridge, gateway address on the host. No forwarding, no NAT: the host
// answers for itself only, so nothing in the lab reaches past it.
func addBridge(p *Plan) error {
	return netns.AddBridge(hostBridge(p))
}

// hostBridge is the lab network's bridge, in the machine's namespace with
// the gateway address.
func hostBridge(p *Plan) netns.Bridge {
	return netns.Bridge{Name: p.Bridge, Addrs: []string{netip.PrefixFrom(p.Gateway, p.Network.Bits()).String()}}
}

// addHost makes a namespace with eth0 on the bridge at ip.
func addHost(p *Plan, ns, link string, ip netip.Addr) error {
	return netns.AddHost(netns.Host{NS: ns, Link: link, Bridge: netns.Bridge{Name: p.Bridge},
		Addrs: []string{netip.PrefixFrom(ip, p.Network.Bits()).String()}})
}

// addNode adds a node namespace with what kindnet and the node's image
// would set up: forwarding, bridged pod traffic through iptables (for
// kube-proxy's hairpin), routes to every other node's pods, and a route
// for the Service range on eth0 so the routing decision for a ClusterIP
// succeeds before kube-proxy's DNAT rewrites it (there is no default route).
func addNode(p *Plan, n NodePlan) error {
	if err := addHost(p, n.Name, n.Link, n.IP); err != nil {
		return err
	}
	cmds := [][]string{
		{"ip", "netns", "exec", n.Name, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "-n", n.Name, "route", "add", p.ServiceSubnet.String(), "dev", "eth0", "scope", "link"},
	}
	// What kindnet's masquerading does: pods reach the lab network (a
	// client, the gateway) as their node, since nothing there routes
	// back to pod addresses. Pod-to-pod traffic keeps its addresses.
	cmds = append(cmds, []string{"ip", "netns", "exec", n.Name, "iptables", "-t", "nat", "-A", "POSTROUTING",
		"-s", n.PodCIDR.String(), "!", "-d", p.PodSubnet.String(), "-m", "comment", "--comment", "ironlab: pods leave as their node",
		"-j", "MASQUERADE"})
	for _, o := range p.Nodes {
		if o.Name != n.Name {
			cmds = append(cmds, []string{"ip", "-n", n.Name, "route", "add", o.PodCIDR.String(), "via", o.IP.String()})
		}
	}
	if err := runAll(cmds...); err != nil {
		return err
	}
	// Per-namespace on recent kernels; where it is not, the host's value holds.
	_ = run("ip", "netns", "exec", n.Name, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
	return nil
}

// setLink brings a node's link up or down, as a stopped container's
// network goes away.
func setLink(link string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run("ip", "link", "set", link, state)
}

// allowBridged lets frames between the lab's own ports through the host's
// FORWARD chain. With br_netfilter on (bridge-nf-call-iptables=1) bridged
// frames pass the host's iptables, and a host whose FORWARD policy is DROP
// (any host running Docker) would cut nodes off from each other. The rule
// matches only the lab's bridge, in and out: it forwards nothing off it.
func (s *State) allowBridged() error {
	b, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		return nil
	}
	r := HostRule{Chain: "FORWARD", Spec: []string{"-i", s.Plan.Bridge, "-o", s.Plan.Bridge,
		"-m", "comment", "--comment", "ironlab " + s.Plan.Name, "-j", "ACCEPT"}}
	// Recorded before it exists: a delete after a crash removes it too.
	s.HostRules = append(s.HostRules, r)
	if err := s.save(); err != nil {
		return err
	}
	return run(append([]string{"iptables", "-w", "-I", r.Chain}, r.Spec...)...)
}

// delHostRules removes the rules allowBridged added, each as often as it
// is there.
func (s *State) delHostRules() error {
	var errs []error
	for _, r := range s.HostRules {
		for range 10 {
			if !hostRuleExists(r) {
				break
			}
			if err := run(append([]string{"iptables", "-w", "-D", r.Chain}, r.Spec...)...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

func hostRuleExists(r HostRule) bool {
	return exec.Command("iptables", append([]string{"-w", "-C", r.Chain}, r.Spec...)...).Run() == nil
}
