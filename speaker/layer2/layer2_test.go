//go:build e2e

package layer2

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"

	"github.com/ironlb/ironlb/test/netns"
)

// countingMetrics counts packets per VIP.
type countingMetrics struct {
	mu                             sync.Mutex
	requests, responses, announced map[netip.Addr]int
}

func newCounting() *countingMetrics {
	return &countingMetrics{requests: map[netip.Addr]int{}, responses: map[netip.Addr]int{}, announced: map[netip.Addr]int{}}
}

func (m *countingMetrics) RequestReceived(ip netip.Addr) {
	m.mu.Lock()
	m.requests[ip]++
	m.mu.Unlock()
}
func (m *countingMetrics) ResponseSent(ip netip.Addr) { m.mu.Lock(); m.responses[ip]++; m.mu.Unlock() }
func (m *countingMetrics) GratuitousSent(ip netip.Addr) {
	m.mu.Lock()
	m.announced[ip]++
	m.mu.Unlock()
}
func (m *countingMetrics) get(which map[netip.Addr]int, ip netip.Addr) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return which[ip]
}

// speaker is an Announcer in a helper process inside a node's namespace,
// as a real speaker runs in its node's: the process's every thread is in
// the namespace, so interface names resolve there. It reads commands on
// stdin ("set IP,IP", "stats IP") and answers each with one line.
type speaker struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	done  chan error
	close sync.Once
}

const helperEnv = "IRONLB_LAYER2_HELPER"

func startSpeaker(t *testing.T, lab *netns.Lab, ns string) *speaker {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperSpeaker$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &speaker{cmd: cmd, in: in, out: bufio.NewScanner(outPipe), done: make(chan error, 1)}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *speaker) call(t *testing.T, line string) string {
	t.Helper()
	if _, err := fmt.Fprintln(s.in, line); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if !s.out.Scan() {
		t.Fatalf("helper exited: %v", s.out.Err())
	}
	reply := s.out.Text()
	if strings.HasPrefix(reply, "error ") {
		t.Fatalf("helper: %s", reply)
	}
	return reply
}

// set announces exactly the given VIPs on eth0.
func (s *speaker) set(t *testing.T, ips ...netip.Addr) {
	t.Helper()
	var list []string
	for _, ip := range ips {
		list = append(list, ip.String())
	}
	s.call(t, "set "+strings.Join(list, ","))
}

// stats returns requests received, responses sent and announcements sent.
func (s *speaker) stats(t *testing.T, ip netip.Addr) (req, resp, garp int) {
	t.Helper()
	if _, err := fmt.Sscanf(s.call(t, "stats "+ip.String()), "%d %d %d", &req, &resp, &garp); err != nil {
		t.Fatal(err)
	}
	return req, resp, garp
}

// stop closes stdin: the helper stops its Announcer and exits 0, bounded.
func (s *speaker) stop(t *testing.T) {
	s.close.Do(func() {
		_ = s.in.Close()
		go func() { s.done <- s.cmd.Wait() }()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("helper speaker exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			t.Error("helper speaker did not stop within 10s of stdin closing")
		}
	})
}

// TestHelperSpeaker is the helper process, not a test of its own.
func TestHelperSpeaker(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	m := newCounting()
	a := New(Options{Log: testr.New(t), Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "set":
			want := map[netip.Addr][]string{}
			for _, f := range strings.Split(arg, ",") {
				if f != "" {
					want[netip.MustParseAddr(f)] = []string{"eth0"}
				}
			}
			var err error
			for range 100 { // Run may not have started yet
				if err = a.Set(want); err == nil || !strings.Contains(err.Error(), "before Run") {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err != nil {
				fmt.Printf("error %v\n", err)
				continue
			}
			fmt.Println("ok")
		case "stats":
			ip := netip.MustParseAddr(arg)
			fmt.Printf("%d %d %d\n", m.get(m.requests, ip), m.get(m.responses, ip), m.get(m.announced, ip))
		default:
			fmt.Printf("error unknown command %q\n", cmd)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}

// neighbour returns the MAC the client's kernel holds for ip, "" if none.
func neighbour(t *testing.T, lab *netns.Lab, client string, ip netip.Addr) string {
	t.Helper()
	out, err := lab.Exec(client, "ip", "neigh", "show", ip.String(), "dev", "eth0")
	if err != nil {
		t.Fatalf("ip neigh: %v: %s", err, out)
	}
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// waitNeighbour polls the client's neighbour table, at most 3 s.
func waitNeighbour(t *testing.T, lab *netns.Lab, client string, ip netip.Addr, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := neighbour(t, lab, client, ip)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client's neighbour entry for %s is %q, want %q", ip, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newLab(t *testing.T) (lab *netns.Lab, node1, node2, client string) {
	lab = netns.New(t)
	node1 = lab.Host("node1", "10.250.0.2/24", "fd00:250::2/64")
	node2 = lab.Host("node2", "10.250.0.3/24", "fd00:250::3/64")
	client = lab.Host("client", "10.250.0.100/24", "fd00:250::100/64")
	return lab, node1, node2, client
}

// TestARPAndNDPAnswers: the owner answers arping and ndisc6 from a client
// with its own MAC; when it stops owning the VIP it stops answering.
func TestARPAndNDPAnswers(t *testing.T) {
	lab, node1, _, client := newLab(t)
	s := startSpeaker(t, lab, node1)
	s.set(t, vip4, vip6)
	mac := strings.ToUpper(lab.MAC(node1).String())

	out, err := lab.Exec(client, "arping", "-c", "1", "-w", "3", "-I", "eth0", vip4.String())
	if err != nil || !strings.Contains(strings.ToUpper(out), "["+mac+"]") {
		t.Errorf("arping %s: %v\n%s\nwant a reply from %s", vip4, err, out, mac)
	}
	// The client's own kernel resolves the IPv6 VIP: it solicits, and
	// the entry it creates must carry the owner's MAC.
	_, _ = lab.Exec(client, "ping", "-6", "-c", "1", "-W", "1", vip6.String())
	waitNeighbour(t, lab, client, vip6, strings.ToLower(mac))
	// ndisc6 also insists that the answer comes from the VIP itself.
	out, err = lab.Exec(client, "ndisc6", "-n", "-q", "-r", "3", "-w", "500", vip6.String(), "eth0")
	if err != nil || !strings.EqualFold(strings.TrimSpace(out), mac) {
		t.Errorf("ndisc6 %s: %v\n%s\nwant %s", vip6, err, out, mac)
	}
	if req, resp, _ := s.stats(t, vip4); req == 0 || resp == 0 {
		t.Errorf("ARP requests/responses counted: %d/%d", req, resp)
	}
	if req, resp, _ := s.stats(t, vip6); req == 0 || resp == 0 {
		t.Errorf("NDP requests/responses counted: %d/%d", req, resp)
	}

	s.set(t)
	if out, err := lab.Exec(client, "arping", "-c", "1", "-w", "1", "-I", "eth0", vip4.String()); err == nil {
		t.Errorf("a released VIP is still answered:\n%s", out)
	}
	if out, err := lab.Exec(client, "ip", "-6", "neigh", "flush", "dev", "eth0"); err != nil {
		t.Fatalf("flushing: %v: %s", err, out)
	}
	_, _ = lab.Exec(client, "ping", "-6", "-c", "1", "-W", "1", vip6.String())
	if out, err := lab.Exec(client, "ndisc6", "-n", "-q", "-r", "1", "-w", "300", vip6.String(), "eth0"); err == nil {
		t.Errorf("ndisc6: a released IPv6 VIP is still answered: %s", out)
	}
	if got := neighbour(t, lab, client, vip6); got != "" {
		t.Errorf("a released IPv6 VIP is still answered: the client learned %s", got)
	}
}

// TestTakeoverUpdatesExistingNeighbourEntries: a client already holds the
// old owner's MAC, freshly confirmed (inside the 1 s ARP locktime); the new
// owner's unsolicited announcements replace it for IPv4 and IPv6 without
// the client asking.
func TestTakeoverUpdatesExistingNeighbourEntries(t *testing.T) {
	lab, node1, node2, client := newLab(t)
	old, next := lab.MAC(node1).String(), lab.MAC(node2).String()
	for _, ip := range []netip.Addr{vip4, vip6} {
		if out, err := lab.Exec(client, "ip", "neigh", "replace", ip.String(), "lladdr", old, "dev", "eth0", "nud", "reachable"); err != nil {
			t.Fatalf("seeding the client's entry: %v: %s", err, out)
		}
	}
	s := startSpeaker(t, lab, node2)
	s.set(t, vip4, vip6)
	waitNeighbour(t, lab, client, vip4, next)
	waitNeighbour(t, lab, client, vip6, next)
	if _, _, garp := s.stats(t, vip4); garp == 0 {
		t.Error("no gratuitous ARP counted")
	}
}

// TestMalformedARPDoesNotStopAnswers: a client sends ARP frames that do
// not parse (lengths past the frame's end, a 5-byte IP); the owner keeps
// answering ARP. Before arpQuestion, arp.Client.Read returned the first
// such frame as an error and the responder stopped reading for good.
func TestMalformedARPDoesNotStopAnswers(t *testing.T) {
	lab, node1, _, client := newLab(t)
	s := startSpeaker(t, lab, node1)
	s.set(t, vip4)
	mac := strings.ToUpper(lab.MAC(node1).String())
	arping := func(when string) { t.Helper(); mustARP(t, lab, client, mac, when) }
	arping("before the malformed frames")

	clientMAC := lab.MAC(client)
	req := arpFrame(t, arp.OperationRequest, clientMAC, netip.MustParseAddr("10.250.0.100"), vip4)
	lab.Do(client, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		pc, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
		if err != nil {
			return err
		}
		defer pc.Close()
		for _, f := range [][]byte{with(req, 14+4, 200), with(req, 14+5, 5)} {
			if _, err := pc.WriteTo(f, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
				return err
			}
		}
		return nil
	})
	arping("after the malformed frames")
}

// TestAnswersAgainAfterTheLinkFlaps: the owner's link goes down and up
// while its speaker runs; it answers ARP and NDP again. The read loops
// used to stop for good on the "network is down" error the link's fall
// returns once.
func TestAnswersAgainAfterTheLinkFlaps(t *testing.T) {
	lab, node1, _, client := newLab(t)
	s := startSpeaker(t, lab, node1)
	s.set(t, vip4, vip6)
	mac := strings.ToUpper(lab.MAC(node1).String())
	arping := func(when string) { t.Helper(); mustARP(t, lab, client, mac, when) }
	arping("before the flap")
	for _, state := range []string{"down", "up"} {
		if out, err := lab.Exec(node1, "ip", "link", "set", "eth0", state); err != nil {
			t.Fatalf("link %s: %v: %s", state, err, out)
		}
		time.Sleep(300 * time.Millisecond) // past a read retry
	}
	arping("after the flap")
	// The IPv6 address went with the link; the node's own stack brings
	// its link-local address back, which is all NDP needs to answer.
	if out, err := lab.Exec(client, "ip", "-6", "neigh", "flush", "dev", "eth0"); err != nil {
		t.Fatalf("flushing: %v: %s", err, out)
	}
	_, _ = lab.Exec(client, "ping", "-6", "-c", "1", "-W", "1", vip6.String())
	waitNeighbour(t, lab, client, vip6, strings.ToLower(mac))
}

// mustARP asks for vip4 from client and fails the test unless mac
// answers; when says at which point of the test.
func mustARP(t *testing.T, lab *netns.Lab, client, mac, when string) {
	t.Helper()
	out, err := lab.Exec(client, "arping", "-c", "1", "-w", "3", "-I", "eth0", vip4.String())
	if err != nil || !strings.Contains(strings.ToUpper(out), "["+mac+"]") {
		t.Fatalf("arping %s %s: %v\n%s\nwant a reply from %s", vip4, when, err, out, mac)
	}
}

// TestDuplicateAddressDetectionIsAnswered: a client configuring the IPv6
// VIP on itself probes for it first (duplicate address detection, a
// solicitation from the unspecified address); the owner answers, and the
// client's kernel marks the address as a duplicate. The ndp package's
// ReadFrom used to drop these probes: they come from the address the socket
// is bound to, the unspecified one.
func TestDuplicateAddressDetectionIsAnswered(t *testing.T) {
	lab, node1, _, client := newLab(t)
	s := startSpeaker(t, lab, node1)
	s.set(t, vip6)
	// The unsolicited announcements of the takeover burst would fail the
	// client's DAD on their own; wait until the burst is over.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, _, sent := s.stats(t, vip6); sent >= len(DefaultBurst) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the takeover burst did not finish")
		}
	}
	if out, err := lab.Exec(client, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1"); err != nil {
		t.Fatalf("enabling DAD: %v: %s", err, out)
	}
	if out, err := lab.Exec(client, "ip", "-6", "addr", "add", vip6.String()+"/64", "dev", "eth0"); err != nil {
		t.Fatalf("adding the VIP on the client: %v: %s", err, out)
	}
	// DAD ends either way after its probe's retransmit time (1 s): the
	// address is then "dadfailed" or usable. Wait for the end, not a time.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := lab.Exec(client, "ip", "-6", "addr", "show", "dev", "eth0", "to", vip6.String()+"/128")
		if err != nil {
			t.Fatalf("ip addr: %v: %s", err, out)
		}
		if strings.Contains(out, "dadfailed") {
			break
		}
		if !strings.Contains(out, "tentative") {
			t.Fatalf("the client took the VIP: DAD was not answered\n%s", out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("DAD still running:\n%s", out)
		}
	}
	if req, resp, _ := s.stats(t, vip6); req == 0 || resp == 0 {
		t.Errorf("NDP requests/responses counted: %d/%d", req, resp)
	}
}
