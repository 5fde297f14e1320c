// Package netns builds small networks of Linux network namespaces for
// tests that need real packets: hosts with one interface each, joined by a
// bridge that lives in a namespace of its own, so nothing touches the
// machine's own network. Everything is removed when the test ends, also
// when it fails. Requires root (CAP_SYS_ADMIN, CAP_NET_ADMIN).
package netns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// T is what a Lab needs from its owner: *testing.T and *testing.B, or a
// benchmark program's stand-in.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// Lab is one test's network.
type Lab struct {
	t       T
	prefix  string
	bridge  string // namespace holding br0
	hosts   []string
	ports   map[string]string // host namespace → its bridge port
	gateway string            // link in the machine's namespace, if any
}

// New creates the bridge namespace; the lab is torn down at test cleanup.
func New(t T) *Lab {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	l := &Lab{t: t, prefix: "ilb" + hex.EncodeToString(b)}
	l.bridge = l.prefix + "-br"
	t.Cleanup(l.teardown)
	l.must("ip", "netns", "add", l.bridge)
	l.check(AddBridge(l.br()))
	return l
}

// Host adds a namespace with interface eth0 on the bridge, holding the
// given addresses (CIDR notation), and returns the namespace's name. IPv6
// duplicate address detection is off so addresses are usable at once.
func (l *Lab) Host(name string, addrs ...string) string {
	l.t.Helper()
	ns := l.prefix + "-" + name
	peer := "v" + fmt.Sprint(len(l.hosts)) + l.prefix[3:]
	l.hosts = append(l.hosts, ns) // torn down even if adding it fails halfway
	if l.ports == nil {
		l.ports = map[string]string{}
	}
	l.ports[ns] = peer
	l.check(makeNeighbourRoom(len(l.hosts)))
	l.check(AddHost(Host{NS: ns, Link: peer, Bridge: l.br(), Addrs: addrs, NoDAD: true}))
	return ns
}

// Silence drops, at the bridge, every frame the host sends (ARP and its
// raw sockets' frames included), while every frame sent to it still
// arrives: the host hears the others and nothing it says reaches them.
// The returned func lifts it (once); the bridge namespace goes at teardown
// anyway.
func (l *Lab) Silence(ns string) (lift func()) {
	l.t.Helper()
	port, ok := l.ports[ns]
	if !ok {
		l.t.Fatalf("no host %s in this lab", ns)
	}
	for _, chain := range []string{"FORWARD", "INPUT"} {
		l.must("ip", "netns", "exec", l.bridge, "ebtables", "-A", chain, "-i", port, "-j", "DROP")
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, chain := range []string{"FORWARD", "INPUT"} {
				l.must("ip", "netns", "exec", l.bridge, "ebtables", "-D", chain, "-i", port, "-j", "DROP")
			}
		})
	}
}

// Gateway connects the machine's own network namespace to the bridge with
// the given address (CIDR), as kind's network has its gateway on the host:
// a control plane running on the machine is then reachable from the hosts.
// The link goes with the bridge namespace at teardown.
func (l *Lab) Gateway(addr string) {
	l.t.Helper()
	// Two labs on one subnet would route each other's traffic: refuse.
	if p, err := netip.ParsePrefix(addr); err == nil {
		out, _ := exec.Command("ip", "route", "show", "match", p.Masked().Addr().String()).Output()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] != "default" {
				l.t.Fatalf("the machine already routes %s (%q): another lab is running, or the range is in use; stop it first", p.Masked(), line)
			}
		}
	}
	host, peer := l.prefix+"gw", "g"+l.prefix[3:]
	l.must("ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", l.bridge)
	l.gateway = host
	l.must("ip", "-n", l.bridge, "link", "set", peer, "master", "br0", "up")
	l.must("ip", "addr", "add", addr, "dev", host)
	l.must("ip", "link", "set", host, "up")
}

// Prefix is the random name every namespace and link of this lab begins
// with; RemoveLeftovers takes it.
func (l *Lab) Prefix() string { return l.prefix }

// RemoveLeftovers deletes what a lab with the given prefix left behind
// when its process was killed before its cleanup ran: the processes in
// its namespaces, the namespaces and the gateway link. The caller must
// know that lab's owner is gone (the l2lab lock tells it).
func RemoveLeftovers(prefix string) error {
	if !strings.HasPrefix(prefix, "ilb") || len(prefix) != len("ilb")+6 {
		return fmt.Errorf("%q is not a lab prefix", prefix)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix+"-") {
			continue
		}
		ns := f[0]
		// A namespace outlives `ip netns del` while a process holds it,
		// and that process would go on answering on the lab's addresses.
		pids, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, pid := range strings.Fields(string(pids)) {
			_ = exec.Command("kill", "-9", pid).Run()
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("deleting namespace %s: %v: %s", ns, err, out))
		}
	}
	// Gone with its peer in the bridge namespace, unless that failed.
	_ = exec.Command("ip", "link", "del", prefix+"gw").Run()
	if len(errs) > 0 {
		return fmt.Errorf("removing lab %s: %s", prefix, strings.Join(errs, "; "))
	}
	return nil
}

// MAC returns the hardware address of eth0 in the namespace.
func (l *Lab) MAC(ns string) net.HardwareAddr {
	l.t.Helper()
	var mac net.HardwareAddr
	l.Do(ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		return nil
	})
	return mac
}

// Do runs f on a thread inside the namespace. Sockets f opens stay in that
// namespace after Do returns.
func (l *Lab) Do(ns string, f func() error) {
	l.t.Helper()
	if err := Do(ns, f); err != nil {
		l.t.Fatalf("in namespace %s: %v", ns, err)
	}
}

// Do runs f on an OS thread switched into the named namespace (as `ip
// netns` names them), and switches the thread back before releasing it. A
// socket f opens stays in that namespace.
func Do(ns string, f func() error) error { return DoPath("/var/run/netns/"+ns, f) }

// DoPath is Do for the namespace file at nsPath.
func DoPath(nsPath string, f func() error) error {
	ns := nsPath
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering %s: %w", ns, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// A thread stuck in the wrong namespace must not be reused.
			panic(fmt.Sprintf("leaving namespace %s: %v", ns, err))
		}
	}()
	return f()
}

// Exec runs a command inside the namespace and returns its combined output.
func (l *Lab) Exec(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

// br is the lab's bridge, br0 in its own namespace.
func (l *Lab) br() Bridge { return Bridge{NS: l.bridge, Name: "br0"} }

func (l *Lab) check(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatalf("%v", err)
	}
}

func (l *Lab) must(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// teardown deletes the hosts, then the bridge; deleting a namespace
// deletes its interfaces and their veth peers.
func (l *Lab) teardown() {
	if l.gateway != "" {
		// Usually gone already with its peer; deleting twice is harmless.
		_ = exec.Command("ip", "link", "del", l.gateway).Run()
	}
	for _, ns := range append(l.hosts, l.bridge) {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			l.t.Errorf("deleting namespace %s: %v\n%s", ns, err, out)
		}
	}
}

// Stub adds a namespace linked point-to-point to the namespace host (not
// to the bridge), as a network behind a router: the new namespace's eth0
// holds addrs, host's end of the link is named ifname and holds
// hostAddrs. It returns the new namespace's name; it goes at teardown.
func (l *Lab) Stub(host, ifname, name string, hostAddrs, addrs []string) string {
	l.t.Helper()
	ns := l.prefix + "-" + name
	l.must("ip", "netns", "add", ns)
	l.hosts = append(l.hosts, ns)
	l.must("ip", "-n", host, "link", "add", ifname, "type", "veth", "peer", "name", "eth0", "netns", ns)
	for _, n := range []struct {
		ns, ifname string
		addrs      []string
	}{{host, ifname, hostAddrs}, {ns, "eth0", addrs}} {
		l.must("ip", "netns", "exec", n.ns, "sysctl", "-qw", "net.ipv6.conf."+n.ifname+".accept_dad=0")
		for _, a := range n.addrs {
			l.must("ip", "-n", n.ns, "addr", "add", a, "dev", n.ifname)
		}
		l.must("ip", "-n", n.ns, "link", "set", n.ifname, "up")
	}
	l.must("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	l.must("ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// Link joins two of the lab's namespaces point-to-point with a veth pair,
// aIf in a and bIf in b, both up with no address but their IPv6 link-local
// ones (usable at once: duplicate address detection off), as a link that
// carries unnumbered BGP. The pair goes with its namespaces at teardown.
func (l *Lab) Link(a, aIf, b, bIf string) {
	l.t.Helper()
	l.must("ip", "-n", a, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b)
	for _, end := range [][2]string{{a, aIf}, {b, bIf}} {
		l.must("ip", "netns", "exec", end[0], "sysctl", "-qw", "net.ipv6.conf."+end[1]+".accept_dad=0")
		l.must("ip", "-n", end[0], "link", "set", end[1], "up")
	}
}
