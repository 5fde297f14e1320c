// Package l2lab starts IronLB for layer-2 tests and benchmarks: speaker
// binaries in node network namespaces on a bridge, a client namespace, a
// real kube-apiserver on the bridge's gateway (as kind's nodes reach
// theirs), and the controller binary on the machine. Nodes and speaker pods
// exist as API objects, which is how speakers find each other.
package l2lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/test/frr"
	"github.com/ironlb/ironlb/test/netns"
	"github.com/ironlb/ironlb/test/poll"
	"github.com/ironlb/ironlb/test/proc"
	"github.com/ironlb/ironlb/test/testenv"
)

// Addressing of the lab network, a private range only inside namespaces
// the lab creates.
const (
	Gateway   = "10.250.0.1"
	Namespace = "metallb-system"
	poolRange = "10.250.0.200-10.250.0.250"
	clientIP  = "10.250.0.100"
	client2IP = "10.250.0.101"
	// The lab is dual-stack: every host also has an address in a ULA
	// prefix, and the default pool holds IPv6 VIPs beside the IPv4 ones.
	poolRange6 = "fd00:250::200-fd00:250::250"
	clientIP6  = "fd00:250::100"
)

// Options choose the binaries and the size.
type Options struct {
	Nodes int
	// Controller and Speaker are binaries with MetalLB's flags; built from
	// this repository when empty.
	Controller, Speaker string
	// SpeakerArgs are appended to every speaker's command line.
	SpeakerArgs []string
	// Pool is the IPAddressPool's addresses; 10.250.0.200-10.250.0.250
	// and fd00:250::200-fd00:250::250 (on the lab's subnets, like the
	// walkthrough's) when empty.
	Pool string
	// Metrics serves the binaries' Prometheus metrics over plain HTTP
	// (off otherwise):
	// the controller's on a free port of the machine, every speaker's on
	// SpeakerMetricsPort of its node's address. MetricsURL names them.
	Metrics bool
	// Router, when set, adds an upstream router on the bridge (RouterIP,
	// RouterIP6) running FRR with this config, and a client namespace
	// behind it (Cluster.RouterClient) that reaches VIPs only through the
	// router's BGP routes. Without Neighbors, every node's IPv4 and IPv6
	// address is a neighbour of any external AS.
	Router *frr.Config
	// DeferSpeakers leaves the speakers to StartSpeakers, so Services can
	// exist before every speaker starts at once (a join storm).
	DeferSpeakers bool
}

// SpeakerMetricsPort is where speakers serve metrics with Options.Metrics:
// MetalLB's default, free in every node namespace.
const SpeakerMetricsPort = 7472

// Cluster is a running lab.
type Cluster struct {
	t      netns.T
	Lab    *netns.Lab
	Env    *testenv.Env
	Nodes  []string          // node names, myk8s-worker...
	Hosts  map[string]string // node name → namespace
	Client string            // the client's namespace (the seed's mypc)
	// Client2 is a second client (the seed's mypc2), so a client whose
	// neighbour cache is measured hears no answers to another's requests.
	Client2 string
	// Router is the upstream FRR of Options.Router, RouterClient the
	// namespace behind it; nil and "" without.
	Router       *frr.Router
	RouterClient string
	speakers     map[string]*Proc
	// controller is the controller binary's process.
	controller *Proc
	// controllerMetricsPort is the controller's metrics port on the
	// machine, 0 without Options.Metrics.
	controllerMetricsPort int
	opts                  Options
	keyDir                string
	// procs is every process the lab started, in order, restarted
	// speakers' earlier runs included: their output is kept on failure.
	procs []*Proc
}

// Proc is a binary the lab started; it is killed at cleanup.
type Proc = proc.Proc

func (c *Cluster) start(name string, args ...string) *Proc {
	p, err := proc.Start(name, exec.Command(args[0], args[1:]...))
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	c.procs = append(c.procs, p)
	c.t.Cleanup(p.Kill)
	return p
}

// Start builds what it needs and starts the lab.
func Start(t netns.T, o Options) *Cluster {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Pool == "" {
		o.Pool = poolRange + ", " + poolRange6
	}
	c := &Cluster{t: t, Hosts: map[string]string{}, speakers: map[string]*Proc{}, opts: o}
	lock := lockLab(t)
	c.Lab = netns.New(t)
	recordLab(t, lock, c.Lab)
	c.Lab.Gateway(Gateway + "/24")
	for i := range o.Nodes {
		name := "myk8s-worker"
		if i > 0 {
			name += strconv.Itoa(i + 1)
		}
		c.Nodes = append(c.Nodes, name)
		c.Hosts[name] = c.Lab.Host(strconv.Itoa(i+1), c.NodeIP(name)+"/24", c.NodeIP6(name)+"/64")
	}
	c.Client = c.Lab.Host("client", clientIP+"/24", clientIP6+"/64")
	c.Client2 = c.Lab.Host("client2", client2IP+"/24")
	if o.Router != nil {
		cfg := *o.Router
		if cfg.Neighbors == nil {
			cfg.Neighbors = c.NodeNeighbors(0, "")
			// With BFD configured, the router runs it with every node
			// over IPv4.
			for i := range cfg.Neighbors {
				cfg.Neighbors[i].BFD = cfg.BFD != nil && cfg.Neighbors[i].Address.Is4()
			}
		}
		c.startRouter(cfg)
	}

	// A /16 of ClusterIPs, so benchmarks can create thousands of
	// Services, and IPv6 ones for IPv6 Services.
	env, err := testenv.Start(testenv.WithListenAddress(Gateway), testenv.WithAPIServerArg("service-cluster-ip-range", "10.96.0.0/16,fd00:96::/112"))
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	c.Env = env
	t.Cleanup(func() { _ = env.Stop() })
	// Runs before env.Stop: a node whose link was cut (KillNode) still has
	// connections open at the apiserver, which would wait out its stop
	// timeout (20 s) for them; with the link up the node resets them.
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			_, _ = c.Lab.Exec(c.Hosts[n], "ip", "link", "set", "eth0", "up")
		}
	})
	if o.Controller == "" || o.Speaker == "" {
		dir, err := os.MkdirTemp("", "ironlb-l2lab-")
		if err != nil {
			t.Fatalf("%v", err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		bins, err := testenv.BuildBinaries(env.Root, dir)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if o.Controller == "" {
			c.opts.Controller = bins.Controller
		}
		if o.Speaker == "" {
			c.opts.Speaker = bins.Speaker
		}
	}
	c.setupAPI()
	c.startController()
	if !o.DeferSpeakers {
		c.StartSpeakers()
	}
	return c
}

// StartSpeakers starts every node's speaker, back to back.
func (c *Cluster) StartSpeakers() {
	for _, n := range c.Nodes {
		c.StartSpeaker(n)
	}
}

// controllerStarts bounds how often the controller is started on a new
// metrics port because its port was taken.
const controllerStarts = 3

// controllerPod names the controller's Pod object.
const controllerPod = "controller"

// speakerLabels are the speaker pods' labels, and select the pods whose
// addresses memberlist joins (--ml-labels, as the chart passes it:
// MetalLB's speaker has no default).
var speakerLabels = labels.Set{"app": "metallb", "component": "speaker"}

// controllerElects reports whether the controller binary has
// --leader-elect; MetalLB's runs a single replica and has not.
func (c *Cluster) controllerElects() bool {
	out, _ := exec.Command(c.opts.Controller, "--help").CombinedOutput()
	return strings.Contains(string(out), "-leader-elect")
}

// startController starts the controller binary. With metrics on it waits
// until they are served: the port was free when picked, but a test package
// running beside this one may have bound it since, and the controller then
// exits at once; it is started again on another port.
func (c *Cluster) startController() {
	elects := c.controllerElects()
	for attempt := 1; ; attempt++ {
		if c.opts.Metrics {
			port, err := testenv.FreePort()
			c.must(err)
			c.controllerMetricsPort = port
		}
		args := []string{c.opts.Controller, "--kubeconfig", c.Env.Kubeconfig, "--namespace", Namespace,
			"--port", strconv.Itoa(c.controllerMetricsPort), "--health-probe-port", "0", "--webhook-mode", "disabled",
			"--pod-name", controllerPod}
		if elects {
			// As the chart runs it: IPs are assigned in leadership terms, so
			// the apiserver restart covers a term lost and resumed.
			args = append(args, "--leader-elect")
		}
		if c.opts.Metrics {
			args = append(args, "--metrics-secure=false") // plain HTTP: the lab scrapes without a token
		}
		p := c.start("controller", args...)
		c.controller = p
		if !c.opts.Metrics {
			return
		}
		err := c.waitMetrics(p, time.Minute)
		if err == nil {
			return
		}
		if attempt == controllerStarts || !strings.Contains(p.All(), "address already in use") {
			c.t.Fatalf("the controller does not serve metrics on port %d: %v\n%s", c.controllerMetricsPort, err, p.Output(20))
		}
	}
}

// waitMetrics waits until the controller p answers on its metrics URL, and
// fails early if it exited.
func (c *Cluster) waitMetrics(p *Proc, limit time.Duration) error {
	client := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for {
		if !p.Running() {
			return errors.New("it exited")
		}
		resp, err := client.Get(c.MetricsURL(""))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /metrics: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// NodeIP is the node's address on the lab network.
func (c *Cluster) NodeIP(node string) string {
	for i, n := range c.Nodes {
		if n == node {
			return fmt.Sprintf("10.250.0.%d", i+2)
		}
	}
	return ""
}

func (c *Cluster) must(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("%v", err)
	}
}

func (c *Cluster) setupAPI() {
	ctx, cl := context.Background(), c.Env.Client
	c.must(cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}))
	_, err := c.Env.Kubectl(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: my-ippool, namespace: %[1]s}
spec: {addresses: [%[2]s]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: my-l2-advertise, namespace: %[1]s}
spec: {ipAddressPools: [my-ippool]}
`, Namespace, c.opts.Pool), "apply", "-f", "-")
	c.must(err)
	// The controller's own Pod, as the Deployment would make it: MetalLB's
	// controller, measured beside ours (-controller), reads it at start.
	c.must(cl.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: controllerPod,
			Labels: map[string]string{"app": "metallb", "component": "controller"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "ironlb/controller"}}},
	}))
	for i, name := range c.Nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
		c.must(cl.Create(ctx, node))
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		// As a kubelet reports them (--node-ip): the BGP speaker's default
		// router ID is the node's IPv4 address.
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: c.NodeIP(name)},
			{Type: corev1.NodeInternalIP, Address: c.NodeIP6(name)}, {Type: corev1.NodeHostName, Address: name}}
		c.must(cl.Status().Update(ctx, node))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "speaker-" + strconv.Itoa(i+1),
				Labels: speakerLabels},
			Spec: corev1.PodSpec{NodeName: name, HostNetwork: true, Containers: []corev1.Container{{Name: "speaker", Image: "ironlb/speaker"}}},
		}
		c.must(cl.Create(ctx, pod))
		pod.Status.Phase, pod.Status.PodIP = corev1.PodRunning, c.NodeIP(name)
		c.must(cl.Status().Update(ctx, pod))
	}
	dir, err := os.MkdirTemp("", "ironlb-l2lab-key-")
	c.must(err)
	c.t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c.must(os.WriteFile(filepath.Join(dir, "secretkey"), []byte("l2lab-memberlist-secret"), 0o600))
	c.keyDir = dir
}

// StartSpeaker starts the node's speaker in its namespace.
func (c *Cluster) StartSpeaker(node string) *Proc { return c.StartSpeakerWith(node) }

// StartSpeakerWith starts the node's speaker with extra flags after
// Options.SpeakerArgs.
func (c *Cluster) StartSpeakerWith(node string, extra ...string) *Proc {
	i := indexOf(c.Nodes, node)
	metricsPort := "0"
	if c.opts.Metrics {
		metricsPort = strconv.Itoa(SpeakerMetricsPort)
	}
	args := []string{"ip", "netns", "exec", c.Hosts[node], c.opts.Speaker,
		"--kubeconfig", c.Env.Kubeconfig, "--namespace", Namespace, "--node-name", node, "--pod-name", "speaker-" + strconv.Itoa(i+1),
		"--ml-bindaddr", c.NodeIP(node), "--ml-secret-key-path", c.keyDir, "--ml-labels", speakerLabels.String(), "--port", metricsPort, "--health-probe-port", "0"}
	if c.opts.Metrics {
		args = append(args, "--metrics-secure=false")
	}
	args = append(append(args, c.opts.SpeakerArgs...), extra...)
	p := c.start("speaker on "+node, args...)
	c.speakers[node] = p
	return p
}

// Speaker returns the node's speaker process.
func (c *Cluster) Speaker(node string) *Proc { return c.speakers[node] }

// Controller returns the controller's process.
func (c *Cluster) Controller() *Proc { return c.controller }

// MetricsURL returns the /metrics URL of the controller (node "") or of
// the node's speaker, reachable from the machine; "" without
// Options.Metrics.
func (c *Cluster) MetricsURL(node string) string {
	switch {
	case !c.opts.Metrics:
		return ""
	case node == "":
		return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.controllerMetricsPort)
	default:
		return fmt.Sprintf("http://%s:%d/metrics", c.NodeIP(node), SpeakerMetricsPort)
	}
}

// KillNode is `docker stop --signal 9` of a kind node, for the speaker: the
// node's link is cut, then its process SIGKILLed. In that order the node
// sends nothing more, as one that loses power: the kernel closing a killed
// process's sockets would otherwise tell BGP peers at once.
func (c *Cluster) KillNode(node string) {
	if out, err := c.Lab.Exec(c.Hosts[node], "ip", "link", "set", "eth0", "down"); err != nil {
		c.t.Fatalf("cutting %s's link: %v: %s", node, err, out)
	}
	c.speakers[node].Kill()
}

// StopSpeaker stops the node's speaker gracefully (SIGTERM, as a rolling
// restart or a drain does) and waits for it to exit, at most 30 s.
func (c *Cluster) StopSpeaker(node string) {
	if exited, _ := c.speakers[node].Stop(syscall.SIGTERM, 30*time.Second); !exited {
		c.t.Fatalf("the speaker on %s did not stop within 30s of SIGTERM", node)
	}
}

// RestartNode brings the link up, with the IPv6 address and the routes the
// kernel dropped when it went down, and starts the speaker again.
func (c *Cluster) RestartNode(node string) {
	for _, args := range [][]string{{"ip", "link", "set", "eth0", "up"}, {"ip", "addr", "replace", c.NodeIP6(node) + "/64", "dev", "eth0"}} {
		if out, err := c.Lab.Exec(c.Hosts[node], args...); err != nil {
			c.t.Fatalf("restoring %s's link: %v: %s", node, err, out)
		}
	}
	if c.Router != nil {
		c.routeToRouterClient(node)
	}
	c.StartSpeaker(node)
}

// ServiceOptions vary a Service CreateServiceWith makes.
type ServiceOptions struct {
	IPv6  bool // single-stack IPv6 instead of the cluster's default IPv4
	Local bool // externalTrafficPolicy: Local
	// Pool asks for an IP from this IPAddressPool (MetalLB's annotation).
	Pool string
}

// CreateService creates a LoadBalancer Service with ready endpoints on the
// given nodes and returns its VIP once the controller has assigned it.
func (c *Cluster) CreateService(name string, readyNodes ...string) string {
	return c.CreateServiceWith(name, ServiceOptions{}, readyNodes...)
}

// CreateServiceWith is CreateService with options.
func (c *Cluster) CreateServiceWith(name string, o ServiceOptions, readyNodes ...string) string {
	ctx, cl := context.Background(), c.Env.Client
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
	}
	addrType := discoveryv1.AddressTypeIPv4
	if o.IPv6 {
		single := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies = &single, []corev1.IPFamily{corev1.IPv6Protocol}
		addrType = discoveryv1.AddressTypeIPv6
	}
	if o.Pool != "" {
		svc.Annotations = map[string]string{compat.AnnotationAddressPool: o.Pool}
	}
	if o.Local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	c.must(cl.Create(ctx, svc))
	eps := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name + "-eps", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: addrType,
		Endpoints:   c.endpoints(addrType, readyNodes),
	}
	c.must(cl.Create(ctx, eps))
	var vip string
	c.Eventually("external IP of "+name, 30*time.Second, func() string {
		c.must(cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, svc))
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			return "no ingress"
		}
		vip = svc.Status.LoadBalancer.Ingress[0].IP
		return ""
	})
	return vip
}

// SetReadyEndpoints makes the Service's endpoints exactly one ready
// endpoint on each of the given nodes, as a rollout or a failing readiness
// probe does.
func (c *Cluster) SetReadyEndpoints(name string, readyNodes ...string) {
	ctx, cl := context.Background(), c.Env.Client
	var eps discoveryv1.EndpointSlice
	c.must(cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: name + "-eps"}, &eps))
	eps.Endpoints = c.endpoints(eps.AddressType, readyNodes)
	c.must(cl.Update(ctx, &eps))
}

// endpoints returns one ready endpoint per node, addressed in the node's
// pod range of the family.
func (c *Cluster) endpoints(family discoveryv1.AddressType, nodes []string) []discoveryv1.Endpoint {
	ready := true
	var out []discoveryv1.Endpoint
	for _, n := range nodes {
		addr := fmt.Sprintf("10.10.%d.10", indexOf(c.Nodes, n)+1)
		if family == discoveryv1.AddressTypeIPv6 {
			addr = fmt.Sprintf("fd00:10:%d::10", indexOf(c.Nodes, n)+1)
		}
		out = append(out, discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: &n, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return out
}

// CreateServices creates n LoadBalancer Services named prefix-0..n-1 with
// ready endpoints on the given nodes, and returns their VIPs once all have
// one.
func (c *Cluster) CreateServices(prefix string, n int, readyNodes ...string) []string {
	ctx, cl := context.Background(), c.Env.Client
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		no := false
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Name: "web", Port: 80}}, AllocateLoadBalancerNodePorts: &no},
		}
		c.must(cl.Create(ctx, svc))
		eps := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name + "-eps", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   c.endpoints(discoveryv1.AddressTypeIPv4, readyNodes),
		}
		c.must(cl.Create(ctx, eps))
	}
	var vips []string
	c.Eventually(fmt.Sprintf("external IPs of %d Services", n), 5*time.Minute, func() string {
		if !c.controller.Running() {
			c.t.Fatalf("the controller exited; nothing assigns IPs:\n%s", c.controller.Output(20))
		}
		var list corev1.ServiceList
		c.must(cl.List(ctx, &list, client.InNamespace("default")))
		vips = vips[:0]
		for _, s := range list.Items {
			if strings.HasPrefix(s.Name, prefix+"-") && len(s.Status.LoadBalancer.Ingress) > 0 {
				vips = append(vips, s.Status.LoadBalancer.Ingress[0].IP)
			}
		}
		if len(vips) < n {
			return fmt.Sprintf("%d of %d", len(vips), n)
		}
		return ""
	})
	return vips
}

// StatusOwners returns the nodes of the Service's ServiceL2Status objects.
func (c *Cluster) StatusOwners(name string) []string {
	var list v1beta1.ServiceL2StatusList
	c.must(c.Env.Client.List(context.Background(), &list, client.InNamespace(Namespace)))
	var nodes []string
	for _, s := range list.Items {
		if s.Status.ServiceName == name {
			nodes = append(nodes, s.Status.Node)
		}
	}
	return nodes
}

// NodeByMAC returns the node whose interface has the MAC, "" if none.
func (c *Cluster) NodeByMAC(mac string) string {
	for _, n := range c.Nodes {
		if strings.EqualFold(c.Lab.MAC(c.Hosts[n]).String(), mac) {
			return n
		}
	}
	return ""
}

var (
	arpingMAC = regexp.MustCompile(`\[([0-9A-Fa-f:]{17})\]`)
	ndiscMAC  = regexp.MustCompile(`Target link-layer address: ([0-9A-Fa-f:]{17})`)
)

// Arping asks for ip count times from the client and returns the distinct
// MACs that answered, lower case.
func (c *Cluster) Arping(ip string, count int) []string {
	out, _ := c.Lab.Exec(c.Client, "arping", "-c", strconv.Itoa(count), "-w", strconv.Itoa(count+1), "-I", "eth0", ip)
	return distinctMACs(arpingMAC, out)
}

// NDisc solicits ip once from the client with ndisc6, waits for every
// advertisement, and returns the distinct MACs that answered, lower case.
func (c *Cluster) NDisc(ip string) []string {
	out, _ := c.Lab.Exec(c.Client, "ndisc6", "-n", "-m", "-r", "1", "-w", "500", ip, "eth0")
	return distinctMACs(ndiscMAC, out)
}

// distinctMACs returns the MACs re's first group finds in a tool's output,
// lower case, each once, in order.
func distinctMACs(re *regexp.Regexp, out string) []string {
	var macs []string
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		if mac := strings.ToLower(m[1]); !slices.Contains(macs, mac) {
			macs = append(macs, mac)
		}
	}
	return macs
}

// Eventually polls cond every 50 ms until it returns "" or limit passes.
func (c *Cluster) Eventually(what string, limit time.Duration, cond func() string) {
	c.t.Helper()
	poll.Until(c.t, what, limit, 50*time.Millisecond, cond)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// ARPTakeover asks the client for ip over ARP every 10 ms until a node
// other than from answers, and returns that node and when its answer
// arrived; it fails the test after limit. Callers take the fault's time
// before the fault, so what they compute is the outage a client saw.
func (c *Cluster) ARPTakeover(ip, from string, limit time.Duration) (string, time.Time) {
	c.t.Helper()
	client, err := netns.DialARP(c.Client, "eth0")
	if err != nil {
		c.t.Fatalf("ARP client: %v", err)
	}
	defer client.Close()
	addr := netip.MustParseAddr(ip)
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		mac, err := netns.AskARP(client, addr, time.Now().Add(10*time.Millisecond))
		if err != nil {
			continue // no answer within the 10 ms: ask again at once
		}
		if n := c.NodeByMAC(mac.String()); n != "" && n != from {
			return n, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no node but %s answered ARP for %s within %s", from, ip, limit)
	return "", time.Time{}
}
