//go:build e2e

package lab

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/test/lab/cluster"
)

// Tests run in this file's order; the node-stop test comes last, since it
// takes a worker away for a while.

func TestNodesReadyWithSeedLabels(t *testing.T) {
	ctx := context.Background()
	nodes, err := theLab.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // node → mynode label, zone label
		clusterName + "-control-plane": "control-plane/ap-northeast-2a",
		clusterName + "-worker":        "worker1/ap-northeast-2a",
		clusterName + "-worker2":       "worker2/ap-northeast-2b",
		clusterName + "-worker3":       "worker3/ap-northeast-2c",
	}
	if len(nodes.Items) != len(want) {
		t.Errorf("%d nodes, want %d", len(nodes.Items), len(want))
	}
	for _, n := range nodes.Items {
		if got := n.Labels["mynode"] + "/" + n.Labels["topology.kubernetes.io/zone"]; got != want[n.Name] {
			t.Errorf("node %s: labels mynode/zone %q, want %q", n.Name, got, want[n.Name])
		}
		if !cluster.IsReady(&n) {
			t.Errorf("node %s not Ready", n.Name)
		}
	}
	out, err := kubectl("get", "nodes", "-o", "wide", "--no-headers")
	if err != nil {
		t.Fatalf("kubectl get nodes -o wide: %v\n%s", err, out)
	}
	row := regexp.MustCompile(`(?m)^(\S+)\s+Ready\s.*\s(172\.20\.0\.\d+)\s+<none>\s.*\scontainerd://\S+$`)
	if got := row.FindAllStringSubmatch(out, -1); len(got) != len(want) {
		t.Errorf("kubectl get nodes -o wide: want %d Ready rows with INTERNAL-IP 172.20.0.x and containerd://, got:\n%s", len(want), out)
	}
}

// TestCreateRefusesTakenNetwork: a second lab would share 172.20.0.0/16
// with the first; create refuses before making anything.
func TestCreateRefusesTakenNetwork(t *testing.T) {
	_, err := cluster.Create(context.Background(), "ironlab-e2e2", cluster.DefaultConfig(), nil, cluster.Options{Kubeconfig: "-"})
	if err == nil || !strings.Contains(err.Error(), "already routes") {
		t.Fatalf("second cluster on the same network: err = %v, want a refusal naming the route", err)
	}
	if _, err := cluster.Load("ironlab-e2e2"); !errors.Is(err, cluster.ErrNoCluster) {
		t.Errorf("refused create left state: %v", err)
	}
}

// TestServices replays the seed's ClusterIP and NodePort walkthroughs on
// a Deployment of three whoami pods, one per worker.
func TestServices(t *testing.T) {
	ctx := context.Background()
	pods := deployWhoami(t, ctx, "whoami", 3)
	nodePort := createService(t, ctx, "whoami", corev1.ServiceExternalTrafficPolicyCluster)
	client := addClient(t, "mypc", "172.20.0.100")
	worker := nodeIP(t, clusterName+"-worker")

	t.Run("NodePort reaches every pod from the client", func(t *testing.T) {
		// kube-proxy programs a new Service within about a second.
		if err := poll(30*time.Second, func() error {
			_, err := get(client, fmt.Sprintf("%s:%d", worker, nodePort))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for i := range 100 {
			page, err := get(client, fmt.Sprintf("%s:%d", worker, nodePort))
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			seen[field(page, "Hostname")]++
		}
		for _, p := range pods {
			if seen[p.Name] == 0 {
				t.Errorf("pod %s never answered in 100 requests; answers: %v", p.Name, seen)
			}
		}
	})

	t.Run("externalTrafficPolicy Local keeps the client's address", func(t *testing.T) {
		localPort := createService(t, ctx, "whoami-local", corev1.ServiceExternalTrafficPolicyLocal)
		// Every worker has a whoami pod, so each answers locally.
		var page string
		err := poll(30*time.Second, func() error {
			var err error
			page, err = get(client, fmt.Sprintf("%s:%d", worker, localPort))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if ra := field(page, "RemoteAddr"); !strings.HasPrefix(ra, "172.20.0.100:") {
			t.Errorf("RemoteAddr %q, want the client's 172.20.0.100:PORT\n%s", ra, page)
		}
	})

	t.Run("kubectl logs and exec go through the kubelets", func(t *testing.T) {
		out, err := kubectl("logs", pods[0].Name)
		if err != nil || !strings.Contains(out, "listening on") {
			t.Errorf("kubectl logs %s: %v\n%s", pods[0].Name, err, out)
		}
		// whoami has no shell; its own usage text proves the exec ran.
		out, _ = kubectl("exec", pods[0].Name, "--", "/whoami", "--help")
		if !strings.Contains(out, "Usage of whoami") {
			t.Errorf("kubectl exec %s -- /whoami --help:\n%s", pods[0].Name, out)
		}
	})

	t.Run("ClusterIP from inside another pod", func(t *testing.T) {
		svc, err := theLab.cs.CoreV1().Services("default").Get(ctx, "whoami", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		from := pods[0]
		pid, err := theLab.st.PodPID(from.Spec.NodeName, string(from.UID))
		if err != nil {
			t.Fatal(err)
		}
		podNetns := fmt.Sprintf("/proc/%d/ns/net", pid)
		// That node's kube-proxy may program the Service a moment later
		// than the worker's the client used.
		if err := poll(30*time.Second, func() error {
			_, err := get(podNetns, svc.Spec.ClusterIP+":80")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i := range 30 {
			page, err := get(podNetns, svc.Spec.ClusterIP+":80")
			if err != nil {
				t.Fatalf("request %d from pod %s to ClusterIP %s: %v", i, from.Name, svc.Spec.ClusterIP, err)
			}
			seen[field(page, "Hostname")] = true
		}
		if len(seen) < 2 {
			t.Errorf("30 requests to the ClusterIP reached only %v", seen)
		}
	})
}

// TestNodeStopStart is `docker stop -s 9 myk8s-worker` and `docker start`.
func TestNodeStopStart(t *testing.T) {
	ctx := context.Background()
	node := clusterName + "-worker"
	// Earlier tests stop and start nodes too: begin from a whole cluster.
	if err := poll(60*time.Second, func() error { return allNodesReady(ctx) }); err != nil {
		t.Fatalf("before the stop: %v", err)
	}
	pods := deployWhoami(t, ctx, "stoptest", 3)
	createService(t, ctx, "stoptest", corev1.ServiceExternalTrafficPolicyCluster)
	var onNode string
	for _, p := range pods {
		if p.Spec.NodeName == node {
			onNode = p.Name
		}
	}
	if onNode == "" {
		t.Fatalf("no stoptest pod on %s", node)
	}
	if err := theLab.st.StopNode(node, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Started again however the test ends, so the scan after delete
	// sees a whole cluster go.
	started := false
	t.Cleanup(func() {
		if !started {
			_ = theLab.st.StartNode(node)
		}
	})
	// 20 s grace (TestMain), node monitor period 5 s, and some slack.
	if err := poll(60*time.Second, func() error { return nodeReady(ctx, node, false) }); err != nil {
		t.Fatalf("after stop: %v", err)
	}
	if err := poll(30*time.Second, func() error { return noReadyEndpointOn(ctx, "stoptest", node) }); err != nil {
		t.Fatalf("after NotReady: %v", err)
	}
	if err := theLab.st.StartNode(node); err != nil {
		t.Fatal(err)
	}
	started = true
	if err := poll(60*time.Second, func() error { return nodeReady(ctx, node, true) }); err != nil {
		t.Fatalf("after start: %v", err)
	}
}

func nodeReady(ctx context.Context, node string, want bool) error {
	n, err := theLab.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cluster.IsReady(n) != want {
		return fmt.Errorf("node %s Ready=%t, want %t", node, !want, want)
	}
	return nil
}

func noReadyEndpointOn(ctx context.Context, svc, node string) error {
	slices, err := theLab.cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
	})
	if err != nil {
		return err
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.NodeName != nil && *e.NodeName == node && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				return fmt.Errorf("service %s: endpoint %v on stopped node %s still ready", svc, e.Addresses, node)
			}
		}
	}
	return nil
}

// deployWhoami runs n whoami pods, at most one per node, and returns them
// once Running and Ready. The image is the seed's, served by the lab's
// registry.
func deployWhoami(t *testing.T, ctx context.Context, name string, n int32) []corev1.Pod {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "whoami", Image: "traefik/whoami"}},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
							TopologyKey:   "kubernetes.io/hostname",
						}},
					}},
				},
			},
		},
	}
	if _, err := theLab.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	err := poll(90*time.Second, func() error {
		list, err := theLab.cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if podReady(&p) {
				pods = append(pods, p)
			}
		}
		if len(pods) != int(n) {
			return fmt.Errorf("%d of %d %s pods ready: %s", len(pods), n, name, podStates(list.Items))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podStates(pods []corev1.Pod) string {
	var out []string
	for _, p := range pods {
		s := string(p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Waiting != nil {
				s += "/" + c.State.Waiting.Reason + ": " + c.State.Waiting.Message
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
				s += fmt.Sprintf(" (not ready since %s: %s %s)", c.LastTransitionTime.Format("15:04:05"), c.Reason, c.Message)
			}
		}
		out = append(out, p.Name+" on "+p.Spec.NodeName+" "+s)
	}
	return strings.Join(out, "; ") + "; nodes: " + nodeStates(context.Background())
}

// nodeStates describes every node's Ready condition: the node controller
// marks the pods of a node whose kubelet stopped reporting not ready.
func nodeStates(ctx context.Context) string {
	nodes, err := theLab.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				out = append(out, fmt.Sprintf("%s %s since %s (%s)", n.Name, c.Status, c.LastTransitionTime.Format("15:04:05"), c.Reason))
			}
		}
	}
	return strings.Join(out, ", ")
}

// allNodesReady fails while a node is not Ready.
func allNodesReady(ctx context.Context) error {
	nodes, err := theLab.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range nodes.Items {
		if !cluster.IsReady(&nodes.Items[i]) {
			return fmt.Errorf("not every node is Ready: %s", nodeStates(ctx))
		}
	}
	return nil
}

// createService makes a NodePort Service for the app's pods on port 80 and
// returns its node port.
func createService(t *testing.T, ctx context.Context, name string, etp corev1.ServiceExternalTrafficPolicy) int32 {
	t.Helper()
	app := strings.TrimSuffix(name, "-local")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeNodePort,
			Selector:              map[string]string{"app": app},
			ExternalTrafficPolicy: etp,
			Ports:                 []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}},
		},
	}
	got, err := theLab.cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Spec.Ports[0].NodePort
}

func addClient(t *testing.T, name, ip string) string {
	t.Helper()
	if err := theLab.st.AddClient(name, ip); err != nil {
		t.Fatal(err)
	}
	return cluster.NetnsPath(name)
}

func nodeIP(t *testing.T, node string) string {
	t.Helper()
	ip, ok := theLab.st.NodeIP(node)
	if !ok {
		t.Fatalf("no node %s", node)
	}
	return ip.String()
}

// field returns the value of the first "Key: value" line of a whoami page.
func field(page, key string) string {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func kubectl(args ...string) (string, error) { return kubectlStdin("", args...) }

// kubectlStdin runs kubectl against the lab with stdin (for -f -).
func kubectlStdin(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(cluster.DefaultBinDir(), "kubectl"), append([]string{"--kubeconfig", theLab.st.KubeconfigPath()}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// poll calls f every 250 ms until it succeeds or timeout passes, and
// returns f's last error then.
func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
