package netns

import (
	"fmt"
	"os/exec"
	"strings"
)

// The building blocks both labs use: the test networks (Lab) and the
// ironlab cluster (test/lab/cluster), which keeps its namespaces past the
// process that made them. Each is a short list of ip commands; the
// first that fails is returned with its command line and output.

// Bridge describes a Linux bridge with forwarding at once (no STP
// listening delay), in namespace NS ("" is the machine's own).
type Bridge struct {
	NS, Name string
	Addrs    []string // CIDR; the bridge's own addresses
}

// AddBridge creates the bridge and brings it up.
func AddBridge(b Bridge) error {
	cmds := [][]string{
		ipIn(b.NS, "link", "add", b.Name, "type", "bridge", "stp_state", "0", "forward_delay", "0"),
	}
	for _, a := range b.Addrs {
		cmds = append(cmds, ipIn(b.NS, "addr", "add", a, "dev", b.Name))
	}
	cmds = append(cmds, ipIn(b.NS, "link", "set", b.Name, "up"))
	return runAll(cmds...)
}

// Host describes a namespace whose eth0 is one end of a veth pair; the
// other end, Link, is a port of Bridge (in the bridge's namespace).
type Host struct {
	NS     string
	Link   string
	Bridge Bridge
	Addrs  []string // CIDR, on eth0
	// NoDAD turns IPv6 duplicate address detection off in the namespace,
	// so its addresses are usable at once.
	NoDAD bool
}

// AddHost creates the namespace, its eth0 on the bridge with the
// addresses, and brings lo and eth0 up.
func AddHost(h Host) error {
	cmds := [][]string{
		{"ip", "netns", "add", h.NS},
		ipIn(h.Bridge.NS, "link", "add", h.Link, "type", "veth", "peer", "name", "eth0", "netns", h.NS),
		ipIn(h.Bridge.NS, "link", "set", h.Link, "master", h.Bridge.Name, "up"),
	}
	if h.NoDAD {
		cmds = append(cmds, []string{"ip", "netns", "exec", h.NS, "sysctl", "-qw",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.eth0.accept_dad=0"})
	}
	for _, a := range h.Addrs {
		cmds = append(cmds, []string{"ip", "-n", h.NS, "addr", "add", a, "dev", "eth0"})
	}
	cmds = append(cmds,
		[]string{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		[]string{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
	)
	return runAll(cmds...)
}

// ipIn is an ip command in namespace ns ("" is the machine's own).
func ipIn(ns string, args ...string) []string {
	if ns == "" {
		return append([]string{"ip"}, args...)
	}
	return append([]string{"ip", "-n", ns}, args...)
}

// Run runs a command and returns its error with the command line and its
// output, which is what anyone debugging a failed step needs.
func Run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := Run(c...); err != nil {
			return err
		}
	}
	return nil
}
