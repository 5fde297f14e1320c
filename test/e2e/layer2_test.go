// Package e2e runs IronLB's binaries on real packets: speakers in node
// network namespaces on a bridge, a client namespace, a real apiserver
// reachable through the bridge's gateway.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/test/netns"
	"github.com/ironlb/ironlb/test/testenv"
)

const (
	gateway = "10.250.0.1"
	ns      = "metallb-system"
)

var nodeNames = []string{"myk8s-worker", "myk8s-worker2", "myk8s-worker3"}

// proc is a binary the test started; it is killed at cleanup.
type proc struct {
	cmd  *exec.Cmd
	out  *strings.Builder
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(args[0], args[1:]...), out: &strings.Builder{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = lockedWriter{p.mu, p.out}, lockedWriter{p.mu, p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- output of %s:\n%s", name, lastLines(p.out.String(), 40))
			p.mu.Unlock()
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func build(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir, "./cmd/controller", "./cmd/speaker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

func eventually(t *testing.T, what string, limit time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s after %s", what, why, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var macRe = regexp.MustCompile(`\[([0-9A-Fa-f:]{17})\]`)

// arpingMACs asks for ip count times and returns the MACs that answered.
func arpingMACs(lab *netns.Lab, client, ip string, count int) []string {
	out, _ := lab.Exec(client, "arping", "-c", strconv.Itoa(count), "-w", strconv.Itoa(count+1), "-I", "eth0", ip)
	seen := map[string]bool{}
	var macs []string
	for _, m := range macRe.FindAllStringSubmatch(out, -1) {
		mac := strings.ToLower(m[1])
		if !seen[mac] {
			seen[mac] = true
			macs = append(macs, mac)
		}
	}
	return macs
}

// TestLayer2SeedAndFailover replays the walkthrough's layer-2 steps on real
// packets: three speakers elect one owner for svc1's VIP, the client's
// arping gets exactly that node's MAC, ServiceL2Status and the
// nodeAssigned Event name it; the owner's speaker is killed (SIGKILL) and
// its link cut, and another node answers, exactly one, with the status
// following.
func TestLayer2SeedAndFailover(t *testing.T) {
	lab := netns.New(t)
	lab.Gateway(gateway + "/24")
	hosts := map[string]string{}
	for i, n := range nodeNames {
		hosts[n] = lab.Host(strconv.Itoa(i+1), fmt.Sprintf("10.250.0.%d/24", i+2))
	}
	client := lab.Host("client", "10.250.0.100/24")

	// The apiserver listens on the gateway, so the speakers inside node
	// namespaces reach it like kind's nodes reach theirs.
	env, err := testenv.Start(testenv.WithListenAddress(gateway))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	bin := build(t, env.Root)
	ctx := context.Background()
	c := env.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	_, err = env.Kubectl(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: my-ippool, namespace: metallb-system}
spec: {addresses: [10.250.0.200-10.250.0.250]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: my-l2-advertise, namespace: metallb-system}
spec: {ipAddressPools: [my-ippool]}
`, "apply", "-f", "-")
	must(err)

	// The cluster objects a real cluster would have: Ready nodes and the
	// speakers' pods (host network: pod IP = node IP), which is how
	// speakers find each other.
	for i, name := range nodeNames {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
		must(c.Create(ctx, node))
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		must(c.Status().Update(ctx, node))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "speaker-" + strconv.Itoa(i+1), Labels: map[string]string{"app": "metallb", "component": "speaker"}},
			Spec:       corev1.PodSpec{NodeName: name, HostNetwork: true, Containers: []corev1.Container{{Name: "speaker", Image: "ironlb/speaker"}}},
		}
		must(c.Create(ctx, pod))
		pod.Status.Phase, pod.Status.PodIP = corev1.PodRunning, fmt.Sprintf("10.250.0.%d", i+2)
		must(c.Status().Update(ctx, pod))
	}
	keyDir := t.TempDir()
	must(os.WriteFile(filepath.Join(keyDir, "secretkey"), []byte("e2e-memberlist-secret"), 0o600))

	startProc(t, "controller", filepath.Join(bin, "controller"), "--kubeconfig", env.Kubeconfig, "--namespace", ns,
		"--port", "0", "--health-probe-port", "0", "--webhook-mode", "disabled")
	speakers := map[string]*proc{}
	for i, name := range nodeNames {
		speakers[name] = startProc(t, "speaker on "+name, "ip", "netns", "exec", hosts[name], filepath.Join(bin, "speaker"),
			"--kubeconfig", env.Kubeconfig, "--namespace", ns, "--node-name", name, "--pod-name", "speaker-"+strconv.Itoa(i+1),
			"--ml-bindaddr", fmt.Sprintf("10.250.0.%d", i+2), "--ml-secret-key-path", keyDir,
			"--port", "0", "--health-probe-port", "0", "--log-level", "info")
	}

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "svc1"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "webpod"},
			Ports: []corev1.ServicePort{{Name: "svc1-webport", Port: 80}}},
	}
	must(c.Create(ctx, svc))
	ready := true
	eps := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "svc1-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: "svc1"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.10.1.10"}, NodeName: &nodeNames[0], Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{"10.10.2.10"}, NodeName: &nodeNames[1], Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
		},
	}
	must(c.Create(ctx, eps))

	const vip = "10.250.0.200"
	eventually(t, "svc1's external IP", 30*time.Second, func() string {
		must(c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "svc1"}, svc))
		if len(svc.Status.LoadBalancer.Ingress) == 0 || svc.Status.LoadBalancer.Ingress[0].IP != vip {
			return fmt.Sprintf("ingress %v", svc.Status.LoadBalancer.Ingress)
		}
		return ""
	})
	owner := waitOwner(t, c, "")
	ownerMAC := lab.MAC(hosts[owner]).String()
	eventually(t, "arping "+vip+" answered by the owner "+owner, 30*time.Second, func() string {
		if macs := arpingMACs(lab, client, vip, 1); len(macs) != 1 || macs[0] != ownerMAC {
			return fmt.Sprintf("answered by %v", macs)
		}
		return ""
	})
	if macs := arpingMACs(lab, client, vip, 3); len(macs) != 1 {
		t.Errorf("three ARP requests answered by %v, want only %s", macs, ownerMAC)
	}
	out, err := env.Kubectl("", "describe", "svc", "svc1", "-n", "default")
	must(err)
	if want := fmt.Sprintf(`announcing from node %q with protocol "layer2"`, owner); !strings.Contains(out, want) || !strings.Contains(out, "metallb-speaker") {
		t.Errorf("kubectl describe svc svc1 lacks the nodeAssigned event %q from metallb-speaker:\n%s", want, out)
	}

	// The walkthrough's `docker stop --signal 9` of the owning node.
	must(speakers[owner].cmd.Process.Signal(syscall.SIGKILL))
	if out, err := lab.Exec(hosts[owner], "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatalf("cutting the link: %v: %s", err, out)
	}
	killed := time.Now()
	var next string
	eventually(t, "another node answering "+vip, 30*time.Second, func() string {
		macs := arpingMACs(lab, client, vip, 1)
		if len(macs) != 1 || macs[0] == ownerMAC {
			return fmt.Sprintf("answered by %v", macs)
		}
		for _, n := range nodeNames {
			if lab.MAC(hosts[n]).String() == macs[0] {
				next = n
			}
		}
		return ""
	})
	t.Logf("after SIGKILL of %s's speaker, %s answered within %s (informational; the benchmark measures outages)", owner, next, time.Since(killed).Round(time.Millisecond))
	if macs := arpingMACs(lab, client, vip, 3); len(macs) != 1 {
		t.Errorf("after the failover, three ARP requests answered by %v, want only %s's", macs, next)
	}
	if got := waitOwner(t, c, owner); got != next {
		t.Errorf("ServiceL2Status names %s, but %s answers ARP", got, next)
	}
}

// waitOwner waits until exactly one ServiceL2Status for svc1 exists, on a
// node other than not, and returns its node.
func waitOwner(t *testing.T, c client.Client, not string) string {
	t.Helper()
	var node string
	eventually(t, "one ServiceL2Status for svc1", 30*time.Second, func() string {
		var list v1beta1.ServiceL2StatusList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err.Error()
		}
		var nodes []string
		for _, s := range list.Items {
			if s.Status.ServiceName == "svc1" {
				nodes = append(nodes, s.Status.Node)
				if !strings.HasPrefix(s.Name, "l2-") {
					return "named " + s.Name
				}
			}
		}
		if len(nodes) != 1 || nodes[0] == not || nodes[0] == "" {
			return fmt.Sprintf("statuses on %v", nodes)
		}
		node = nodes[0]
		return ""
	})
	return node
}
