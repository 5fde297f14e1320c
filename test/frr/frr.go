// Package frr runs FRRouting (Debian's frr 8.4: zebra and bgpd) as a real
// upstream router inside a network namespace a test made, without systemd:
// each Router has its own directory for config, pid files, vty and zebra
// sockets and logs, and is queried through vtysh's JSON and `ip route`.
// Its daemons are stopped and its directory removed when the test ends,
// also when it fails. Requires root.
package frr

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/test/netns"
)

// Where Debian installs the daemons.
const (
	zebraBin = "/usr/lib/frr/zebra"
	bgpdBin  = "/usr/lib/frr/bgpd"
	bfddBin  = "/usr/lib/frr/bfdd"
	vtyshBin = "vtysh"
)

const (
	// startLimit bounds the wait for a daemon's vty socket; FRR starts in
	// well under a second, a busy machine may take a few.
	startLimit = 15 * time.Second
	// stopGrace is how long a daemon gets after SIGTERM before SIGKILL;
	// zebra removes its kernel routes on the way out.
	stopGrace = 5 * time.Second
	// DefaultMaxPaths is the ECMP width when Config.MaxPaths is 0: more
	// than any lab has nodes.
	DefaultMaxPaths = 8
)

// Neighbor is a BGP neighbour configured by address, or (Range valid) a
// `bgp listen range` of dynamic neighbours sharing a peer group.
type Neighbor struct {
	Address netip.Addr
	Range   netip.Prefix
	// Interface, instead of Address, peers unnumbered on that link (FRR's
	// `neighbor IF interface`: over IPv6 link-local addresses, Router
	// Advertisements on, IPv4 and IPv6 unicast both activated).
	Interface string
	// DualStack activates both unicast families on the session, not only
	// its address's.
	DualStack bool
	// ASN is the neighbour's AS; 0 means "external" (any AS but ours).
	ASN uint32
	// Password enables TCP MD5 signatures on the session.
	Password string
	// BFD makes bgpd run BFD with the neighbour (Config.BFD's profile)
	// and drop the session when BFD goes down.
	BFD bool
}

// Config is one router's BGP configuration. Timers are 1 s keepalive and
// 3 s hold, so a dead neighbour is dropped within 3 s.
type Config struct {
	// Name is FRR's hostname and the directory's prefix.
	Name     string
	ASN      uint32
	RouterID netip.Addr
	// Neighbors are sessions; IPv4 and IPv6 neighbours are activated in
	// their own address family.
	Neighbors []Neighbor
	// Networks are originated by this router (no RIB check).
	Networks []netip.Prefix
	// MaxPaths is the ECMP width for eBGP and iBGP; DefaultMaxPaths if 0.
	MaxPaths int
	// BFD, when set, runs bfdd with these sessions.
	BFD *BFD
}

// BFD is bfdd's configuration: one profile ("lab"), used by every peer
// listed here and by every BGP neighbour with BFD set.
type BFD struct {
	// Receive and Transmit are the intervals in milliseconds; Mult the
	// detect multiplier. FRR's defaults (300, 300, 3) when 0.
	Receive, Transmit, Mult int
	Passive                 bool
	Peers                   []BFDPeer
}

// BFDPeer is one bfdd session.
type BFDPeer struct {
	Address, Local netip.Addr
	Multihop       bool
	// MinimumTTL, for a multihop peer, when not 0.
	MinimumTTL int
}

// Router is a running FRR.
type Router struct {
	t      netns.T
	NS     string // network namespace, as `ip netns` names it
	Dir    string // config, sockets, pid files, logs
	Config Config
	procs  []*exec.Cmd
	exited []chan struct{}
}

// Start runs zebra and bgpd in the namespace and applies cfg with vtysh.
func Start(t netns.T, ns string, cfg Config) *Router {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "frr"
	}
	dir, err := os.MkdirTemp("", "ironlb-frr-"+cfg.Name+"-")
	if err != nil {
		t.Fatalf("frr: %v", err)
	}
	r := &Router{t: t, NS: ns, Dir: dir, Config: cfg}
	t.Cleanup(r.stop)
	// The daemons drop to user frr (its vty group is frrvty): the
	// directory must be theirs.
	if u, err := user.Lookup("frr"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("frr: %v", err)
		}
	} else {
		t.Fatalf("frr: the frr user is missing (apt-get install frr): %v", err)
	}
	for _, f := range []string{"zebra.conf", "bgpd.conf", "bfdd.conf", "vtysh.conf"} {
		r.write(f, "")
	}
	r.write("frr.conf", Render(cfg))
	r.daemon("zebra", zebraBin)
	r.daemon("bgpd", bgpdBin)
	if cfg.BFD != nil {
		r.daemon("bfdd", bfddBin)
	}
	if out, err := r.Vtysh("-f", filepath.Join(dir, "frr.conf")); err != nil || strings.Contains(out, "% ") {
		t.Fatalf("frr %s: applying frr.conf: %v\n%s\n%s", cfg.Name, err, out, r.Logs())
	}
	return r
}

func (r *Router) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatalf("frr: %v", err)
	}
	if u, err := user.Lookup("frr"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = os.Chown(p, uid, gid)
	}
}

// daemon starts one FRR daemon in the foreground in the namespace (`ip
// netns exec` execs it, so the PID is the daemon's) and waits for its vty
// socket.
func (r *Router) daemon(name, bin string) {
	r.t.Helper()
	d := r.Dir
	args := []string{"netns", "exec", r.NS, bin,
		"--vty_socket", d, "-z", filepath.Join(d, "zserv.api"), "-i", filepath.Join(d, name+".pid"),
		"-f", filepath.Join(d, name+".conf"), "-P", "0", "--log", "file:" + filepath.Join(d, name+".log")}
	cmd := exec.Command("ip", args...)
	out, err := os.Create(filepath.Join(d, name+".out"))
	if err != nil {
		r.t.Fatalf("frr: %v", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		r.t.Fatalf("frr: starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = out.Close(); close(done) }()
	r.procs, r.exited = append(r.procs, cmd), append(r.exited, done)
	sock := filepath.Join(d, name+".vty")
	deadline := time.Now().Add(startLimit)
	for {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		select {
		case <-done:
			r.t.Fatalf("frr %s: %s exited at start:\n%s", r.Config.Name, name, r.Logs())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("frr %s: no %s after %s:\n%s", r.Config.Name, sock, startLimit, r.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends bgpd, then zebra (SIGTERM, SIGKILL after stopGrace), and
// removes the directory.
func (r *Router) stop() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		_ = r.procs[i].Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited[i]:
		case <-time.After(stopGrace):
			_ = r.procs[i].Process.Kill()
			<-r.exited[i]
		}
	}
	_ = os.RemoveAll(r.Dir)
}

// LogFiles are the daemons' output and log files in a Router's Dir.
var LogFiles = []string{"zebra.out", "zebra.log", "bgpd.out", "bgpd.log", "bfdd.out", "bfdd.log"}

// Logs returns the daemons' log files and output, for a failure message.
func (r *Router) Logs() string {
	var b strings.Builder
	for _, f := range LogFiles {
		if data, err := os.ReadFile(filepath.Join(r.Dir, f)); err == nil && len(data) > 0 {
			fmt.Fprintf(&b, "--- %s %s:\n%s\n", r.Config.Name, f, data)
		}
	}
	return b.String()
}

// Vtysh runs vtysh against this router's daemons with the given
// arguments (e.g. "-c", "show bgp summary").
func (r *Router) Vtysh(args ...string) (string, error) {
	all := append([]string{"netns", "exec", r.NS, vtyshBin, "--vty_socket", r.Dir, "--config_dir", r.Dir}, args...)
	out, err := exec.Command("ip", all...).CombinedOutput()
	return string(out), err
}

// Configure applies configuration lines as if typed after `configure
// terminal`, e.g. "router bgp 64500", "neighbor 10.0.0.2 shutdown".
func (r *Router) Configure(lines ...string) error {
	args := []string{"-c", "configure terminal"}
	for _, l := range lines {
		args = append(args, "-c", l)
	}
	out, err := r.Vtysh(args...)
	if err != nil || strings.Contains(out, "% ") {
		return fmt.Errorf("frr %s: configuring %q: %v: %s", r.Config.Name, lines, err, out)
	}
	return nil
}

// Show runs a `show ... json` command and decodes its output into v.
func (r *Router) Show(cmd string, v any) error {
	out, err := r.Vtysh("-c", cmd)
	if err != nil {
		return fmt.Errorf("frr %s: %s: %v: %s", r.Config.Name, cmd, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("frr %s: %s: %v: %q", r.Config.Name, cmd, err, out)
	}
	return nil
}

// Render is cfg as an FRR integrated configuration (frr.conf).
func Render(cfg Config) string {
	if cfg.MaxPaths == 0 {
		cfg.MaxPaths = DefaultMaxPaths
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("frr defaults traditional")
	w("hostname %s", cfg.Name)
	w("!")
	w("router bgp %d", cfg.ASN)
	if cfg.RouterID.IsValid() {
		w(" bgp router-id %s", cfg.RouterID)
	}
	// FRR 8 accepts and sends nothing on eBGP sessions without a policy
	// (RFC 8212); this router is a lab's, it takes everything.
	w(" no bgp ebgp-requires-policy")
	w(" no bgp network import-check")
	w(" no bgp default ipv4-unicast")
	// ECMP across neighbours of different ASes too.
	w(" bgp bestpath as-path multipath-relax")
	w(" timers bgp 1 3")
	var v4, v6 []string // neighbour or peer-group names per family
	for i, n := range cfg.Neighbors {
		remote := "external"
		if n.ASN != 0 {
			remote = strconv.FormatUint(uint64(n.ASN), 10)
		}
		name := n.Address.String()
		is6 := n.Address.Is6()
		switch {
		case n.Range.IsValid():
			name = fmt.Sprintf("RANGE%d", i)
			is6 = n.Range.Addr().Is6()
			w(" neighbor %s peer-group", name)
			w(" neighbor %s remote-as %s", name, remote)
			w(" bgp listen range %s peer-group %s", n.Range, name)
		case n.Interface != "":
			name = n.Interface
			w(" neighbor %s interface remote-as %s", name, remote)
		default:
			w(" neighbor %s remote-as %s", name, remote)
		}
		w(" neighbor %s timers 1 3", name)
		if n.Password != "" {
			w(" neighbor %s password %s", name, n.Password)
		}
		if n.BFD {
			w(" neighbor %s bfd profile lab", name)
		}
		switch {
		case n.Interface != "" || n.DualStack:
			v4, v6 = append(v4, name), append(v6, name)
		case is6:
			v6 = append(v6, name)
		default:
			v4 = append(v4, name)
		}
	}
	for _, af := range []struct {
		name  string
		peers []string
		is6   bool
	}{{"ipv4", v4, false}, {"ipv6", v6, true}} {
		w(" address-family %s unicast", af.name)
		for _, p := range af.peers {
			w("  neighbor %s activate", p)
		}
		for _, n := range cfg.Networks {
			if n.Addr().Is6() == af.is6 {
				w("  network %s", n.Masked())
			}
		}
		w("  maximum-paths %d", cfg.MaxPaths)
		w("  maximum-paths ibgp %d", cfg.MaxPaths)
		w(" exit-address-family")
	}
	w("!")
	if cfg.BFD != nil {
		renderBFD(w, *cfg.BFD)
	}
	return b.String()
}

func renderBFD(w func(string, ...any), c BFD) {
	w("bfd")
	w(" profile lab")
	if c.Receive != 0 {
		w("  receive-interval %d", c.Receive)
	}
	if c.Transmit != 0 {
		w("  transmit-interval %d", c.Transmit)
	}
	if c.Mult != 0 {
		w("  detect-multiplier %d", c.Mult)
	}
	if c.Passive {
		w("  passive-mode")
	}
	w(" !")
	for _, p := range c.Peers {
		line := " peer " + p.Address.String()
		if p.Multihop {
			line += " multihop"
		}
		w("%s local-address %s", line, p.Local)
		w("  profile lab")
		if p.MinimumTTL != 0 {
			w("  minimum-ttl %d", p.MinimumTTL)
		}
		w(" !")
	}
	w("!")
}

// BFDPeerState is a bfdd session as `show bfd peers` reports it; intervals in
// milliseconds.
type BFDPeerState struct {
	Peer                   string `json:"peer"`
	Local                  string `json:"local"`
	Multihop               bool   `json:"multihop"`
	Status                 string `json:"status"`
	Diagnostic             string `json:"diagnostic"`
	RemoteDiagnostic       string `json:"remote-diagnostic"`
	ReceiveInterval        int    `json:"receive-interval"`
	TransmitInterval       int    `json:"transmit-interval"`
	DetectMultiplier       int    `json:"detect-multiplier"`
	RemoteReceiveInterval  int    `json:"remote-receive-interval"`
	RemoteTransmitInterval int    `json:"remote-transmit-interval"`
	RemoteDetectMultiplier int    `json:"remote-detect-multiplier"`
}

// BFDPeers is bfdd's sessions by peer address.
func (r *Router) BFDPeers() (map[netip.Addr]BFDPeerState, error) {
	var list []BFDPeerState
	if err := r.Show("show bfd peers json", &list); err != nil {
		return nil, err
	}
	out := map[netip.Addr]BFDPeerState{}
	for _, p := range list {
		a, err := netip.ParseAddr(p.Peer)
		if err != nil {
			return nil, fmt.Errorf("show bfd peers: peer %q: %w", p.Peer, err)
		}
		out[a] = p
	}
	return out, nil
}

// BFDCounters are one bfdd session's counters.
type BFDCounters struct {
	ControlIn   int `json:"control-packet-input"`
	ControlOut  int `json:"control-packet-output"`
	SessionUp   int `json:"session-up"`
	SessionDown int `json:"session-down"`
}

// BFDCounters returns bfdd's counters by peer address.
func (r *Router) BFDCounters() (map[netip.Addr]BFDCounters, error) {
	var raw []struct {
		Peer string `json:"peer"`
		BFDCounters
	}
	if err := r.Show("show bfd peers counters json", &raw); err != nil {
		return nil, err
	}
	out := map[netip.Addr]BFDCounters{}
	for _, p := range raw {
		a, err := netip.ParseAddr(p.Peer)
		if err != nil {
			return nil, fmt.Errorf("show bfd peers counters: peer %q: %w", p.Peer, err)
		}
		out[a] = p.BFDCounters
	}
	return out, nil
}

// Path is one path FRR holds for a prefix.
type Path struct {
	// Peer is the neighbour it came from (invalid for local paths).
	Peer    netip.Addr
	NextHop netip.Addr
	// Best and Multipath: FRR selected it, alone or as an ECMP member.
	Best, Multipath  bool
	Valid            bool
	LocalPref        uint32 // 0 if absent
	ASPath           string
	Communities      []string // FRR's spelling: "65000:1", "noExport"
	LargeCommunities []string
}

// Paths returns every path FRR's BGP table holds for prefix; none (and no
// error) when it has no route to it.
func (r *Router) Paths(prefix netip.Prefix) ([]Path, error) {
	afi := "ipv4"
	if prefix.Addr().Is6() {
		afi = "ipv6"
	}
	var raw struct {
		Paths []struct {
			ASPath struct {
				String string `json:"string"`
			} `json:"aspath"`
			Valid     bool `json:"valid"`
			Multipath bool `json:"multipath"`
			Bestpath  *struct {
				Overall bool `json:"overall"`
			} `json:"bestpath"`
			LocPrf    *uint32 `json:"locPrf"`
			Community *struct {
				List []string `json:"list"`
			} `json:"community"`
			LargeCommunity *struct {
				List []string `json:"list"`
			} `json:"largeCommunity"`
			Nexthops []struct {
				IP   string `json:"ip"`
				Used bool   `json:"used"`
			} `json:"nexthops"`
			Peer struct {
				PeerID string `json:"peerId"`
			} `json:"peer"`
		} `json:"paths"`
	}
	if err := r.Show(fmt.Sprintf("show bgp %s unicast %s json", afi, prefix.Masked()), &raw); err != nil {
		return nil, err
	}
	var out []Path
	for _, p := range raw.Paths {
		q := Path{Valid: p.Valid, Multipath: p.Multipath, ASPath: p.ASPath.String,
			Best: p.Bestpath != nil && p.Bestpath.Overall}
		q.Peer, _ = netip.ParseAddr(p.Peer.PeerID)
		if q.Peer.IsUnspecified() {
			q.Peer = netip.Addr{}
		}
		for _, nh := range p.Nexthops {
			// An IPv6 path lists its global next hop first, then its
			// link-local one.
			if a, err := netip.ParseAddr(nh.IP); err == nil && !q.NextHop.IsValid() {
				q.NextHop = a
			}
		}
		if p.LocPrf != nil {
			q.LocalPref = *p.LocPrf
		}
		if p.Community != nil {
			q.Communities = p.Community.List
		}
		if p.LargeCommunity != nil {
			q.LargeCommunities = p.LargeCommunity.List
		}
		out = append(out, q)
	}
	return out, nil
}

// Peers returns the neighbours (addresses) whose paths to prefix FRR holds,
// sorted.
func (r *Router) Peers(prefix netip.Prefix) ([]netip.Addr, error) {
	paths, err := r.Paths(prefix)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, p := range paths {
		if p.Peer.IsValid() && !slices.Contains(out, p.Peer) {
			out = append(out, p.Peer)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// NeighborState is a session as FRR sees it.
type NeighborState struct {
	State string // "Established", "Active", "Connect", "Idle", ...
	ASN   uint32
	// LastReset is FRR's reason for the last reset, e.g. "Waiting for
	// peer OPEN".
	LastReset string
	// HoldTime is the negotiated hold time.
	HoldTime time.Duration
	// Established and Dropped count the session's connections that
	// reached Established and that were dropped from it.
	Established, Dropped int
}

// Neighbors returns every neighbour FRR has (configured and dynamic) by
// address; unnumbered ones are in InterfaceNeighbors.
func (r *Router) Neighbors() (map[netip.Addr]NeighborState, error) {
	all, err := r.neighbors()
	if err != nil {
		return nil, err
	}
	out := map[netip.Addr]NeighborState{}
	for k, n := range all {
		if a, err := netip.ParseAddr(k); err == nil {
			out[a] = n
		}
	}
	return out, nil
}

// InterfaceNeighbors returns the unnumbered neighbours, by interface.
func (r *Router) InterfaceNeighbors() (map[string]NeighborState, error) {
	all, err := r.neighbors()
	if err != nil {
		return nil, err
	}
	out := map[string]NeighborState{}
	for _, n := range r.Config.Neighbors {
		if s, ok := all[n.Interface]; ok && n.Interface != "" {
			out[n.Interface] = s
		}
	}
	return out, nil
}

// neighbors is `show bgp neighbors json` by FRR's key: an address, or the
// interface of an unnumbered neighbour.
func (r *Router) neighbors() (map[string]NeighborState, error) {
	var raw map[string]json.RawMessage
	if err := r.Show("show bgp neighbors json", &raw); err != nil {
		return nil, err
	}
	out := map[string]NeighborState{}
	for k, v := range raw {
		var n struct {
			State     string `json:"bgpState"`
			RemoteAS  uint32 `json:"remoteAs"`
			LastReset string `json:"lastResetDueTo"`
			HoldMsecs int64  `json:"bgpTimerHoldTimeMsecs"`
			Ups       int    `json:"connectionsEstablished"`
			Drops     int    `json:"connectionsDropped"`
		}
		if err := json.Unmarshal(v, &n); err != nil {
			continue // FRR's own keys
		}
		out[k] = NeighborState{State: n.State, ASN: n.RemoteAS, LastReset: n.LastReset, HoldTime: time.Duration(n.HoldMsecs) * time.Millisecond,
			Established: n.Ups, Dropped: n.Drops}
	}
	return out, nil
}

// Established returns the neighbours whose session is Established, sorted.
func (r *Router) Established() ([]netip.Addr, error) {
	all, err := r.Neighbors()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for a, n := range all {
		if n.State == "Established" {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// KernelNextHops returns the gateways of the kernel's route to prefix in
// the router's namespace, as zebra installed it (several for ECMP),
// sorted; none when the kernel has no such route.
func (r *Router) KernelNextHops(prefix netip.Prefix) ([]netip.Addr, error) {
	fam := "-4"
	if prefix.Addr().Is6() {
		fam = "-6"
	}
	out, err := exec.Command("ip", "-n", r.NS, "-j", fam, "route", "show", "exact", prefix.Masked().String()).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip route in %s: %v: %s", r.NS, err, out)
	}
	return parseRoutes(out)
}

// parseRoutes reads `ip -j route` output: a route has one "gateway" or a
// list of "nexthops", each with a "gateway"; a gateway of the other family
// (an IPv4 route via an IPv6 next hop, RFC 8950) is a "via" instead.
func parseRoutes(data []byte) ([]netip.Addr, error) {
	type via struct {
		Host string `json:"host"`
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Via      via    `json:"via"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
			Via     via    `json:"via"`
		} `json:"nexthops"`
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(data, &routes); err != nil {
		return nil, fmt.Errorf("ip -j route: %w: %q", err, data)
	}
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, rt := range routes {
		add(rt.Gateway)
		add(rt.Via.Host)
		for _, nh := range rt.Nexthops {
			add(nh.Gateway)
			add(nh.Via.Host)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// KernelWatch records when the kernel's routes or next-hop groups in the
// router's namespace changed, as `ip monitor` reports them: the instants at
// which the router began sending flows elsewhere.
type KernelWatch struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	at   []time.Time
}

// WatchKernel starts recording; the watch stops at test cleanup.
func (r *Router) WatchKernel() *KernelWatch {
	r.t.Helper()
	w := &KernelWatch{cmd: exec.Command("ip", "-n", r.NS, "-ts", "monitor", "route", "nexthop"), done: make(chan struct{})}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		r.t.Fatalf("frr %s: ip monitor: %v", r.Config.Name, err)
	}
	if err := w.cmd.Start(); err != nil {
		r.t.Fatalf("frr %s: ip monitor: %v", r.Config.Name, err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// "[2026-11-22T14:41:41.368878] 10.9.0.0/24 via ...", local time.
			line := sc.Text()
			end := strings.IndexByte(line, ']')
			if !strings.HasPrefix(line, "[") || end < 0 {
				continue
			}
			at, err := time.ParseInLocation("2006-01-02T15:04:05.999999", line[1:end], time.Local)
			if err != nil {
				continue
			}
			w.mu.Lock()
			w.at = append(w.at, at)
			w.mu.Unlock()
		}
	}()
	r.t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
		_ = w.cmd.Wait()
	})
	return w
}

// ChangedDuring reports whether a change was recorded between from and to.
func (w *KernelWatch) ChangedDuring(from, to time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.at {
		if !at.Before(from) && !at.After(to) {
			return true
		}
	}
	return false
}
