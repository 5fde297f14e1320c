//go:build e2e

package lab

import (
	"context"
	"fmt"
	"github.com/ironlb/ironlb/test/lab/repo"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/test/lab/cluster"
)

// The chart's tests run before lab_test.go's (file order), so the node-stop
// test stays last; they leave nothing of IronLB behind but its CRDs.

const (
	releaseNS   = "metallb-system"
	releaseName = "ironlb"
	// chartClient is this file's client namespace, apart from TestServices' mypc.
	chartClient   = "chartpc"
	chartClientIP = "172.20.0.101"
)

// repoRoot is the clone the lab module is in.
func repoRoot(t *testing.T) string {
	t.Helper()
	p, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// applySeed runs the seed's walkthrough on an installed release: two
// webpods, its pool and L2Advertisement (through the controller's
// webhook), svc1..3 as the seed writes them; it returns their IPs.
func applySeed(t *testing.T, ctx context.Context, root string) map[string]string {
	t.Helper()
	deployWhoami(t, ctx, "webpod", 2)
	for _, f := range []string{"metallb-config.yaml", "services.yaml"} {
		var out string
		err := poll(30*time.Second, func() error { // the webhook may still be getting its caBundle
			var err error
			out, err = kubectl("apply", "-f", filepath.Join(root, "test", "seed", f))
			return err
		})
		if err != nil {
			t.Fatalf("kubectl apply -f %s: %v\n%s", f, err, out)
		}
	}
	return waitExternalIPs(t, ctx, "svc1", "svc2", "svc3")
}

// removeSeedAndRelease deletes what a test installed: the release (when
// uninstall), the seed's Services, webpods and configuration, and the
// release's namespace (without waiting: the next test waits for it).
func removeSeedAndRelease(t *testing.T, root string, uninstall bool) {
	if uninstall {
		if out, err := helm(t, "uninstall", releaseName, "-n", releaseNS, "--wait", "--ignore-not-found"); err != nil {
			t.Logf("helm uninstall: %v\n%s", err, out)
		}
	}
	_, _ = kubectl("delete", "--ignore-not-found", "--wait=false", "-f", filepath.Join(root, "test", "seed", "services.yaml"))
	_, _ = kubectl("delete", "--ignore-not-found", "deployment", "webpod")
	_, _ = kubectl("delete", "--ignore-not-found", "-f", filepath.Join(root, "test", "seed", "metallb-config.yaml"))
	_, _ = kubectl("delete", "--ignore-not-found", "--wait=false", "namespace", releaseNS)
}

// imagesLoaded: the images are built and loaded once per lab.
var imagesLoaded bool

// loadImages builds the images `make images` builds, tagged with the
// chart's appVersion, and loads them as `ironlab load image-archive` does.
func loadImages(t *testing.T, ctx context.Context) {
	t.Helper()
	if imagesLoaded {
		return
	}
	root := repoRoot(t)
	chartYAML, err := os.ReadFile(filepath.Join(root, "charts", "ironlb", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	appVersion := regexp.MustCompile(`(?m)^appVersion: *(\S+)$`).FindSubmatch(chartYAML)
	if appVersion == nil {
		t.Fatal("Chart.yaml has no appVersion")
	}
	start := time.Now()
	dir := t.TempDir()
	build := exec.Command("go", "run", "./cmd/images", "--version", "e2e", "--tags", string(appVersion[1]), "--out", dir)
	build.Dir = filepath.Join(root, "test", "lab")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the images: %v\n%s", err, out)
	}
	for _, c := range []string{"controller", "speaker"} {
		if err := theLab.st.LoadImageArchive(ctx, filepath.Join(dir, "ironlb-"+c+".tar")); err != nil {
			t.Fatal(err)
		}
	}
	imagesLoaded = true
	t.Logf("images built and loaded in %.1fs", time.Since(start).Seconds())
}

// helm runs the helm pinned in tools/go.mod (hack/helm.sh) against the lab.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := repoRoot(t)
	bin, err := exec.Command(filepath.Join(root, "hack", "helm.sh")).Output()
	if err != nil {
		t.Fatalf("building helm: %v", err)
	}
	cmd := exec.Command(strings.TrimSpace(string(bin)), append(args, "--kubeconfig", theLab.st.KubeconfigPath())...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestChart installs IronLB with its Helm chart as a user would, runs the
// seed's configuration and Services on it, upgrades and uninstalls it.
func TestChart(t *testing.T) {
	ctx := context.Background()
	root := repoRoot(t)

	loadImages(t, ctx)

	cleanupDone := false
	t.Cleanup(func() { removeSeedAndRelease(t, root, !cleanupDone) })

	start := time.Now()
	if out, err := helm(t, "install", releaseName, "charts/ironlb", "-n", releaseNS, "--create-namespace", "--wait", "--timeout", "3m"); err != nil {
		t.Fatalf("helm install: %v\n%s\n%s", err, out, workloadStates(ctx))
	}
	if err := poll(2*time.Minute, func() error { return workloadsReady(ctx) }); err != nil {
		t.Fatalf("after helm install: %v", err)
	}
	t.Logf("helm install: controller and %d speakers Ready in %.1fs", len(theLab.st.Plan.Nodes), time.Since(start).Seconds())

	t.Run("speaker token cannot write Services", func(t *testing.T) { speakerCannotWriteServices(t, ctx) })
	t.Run("controller cannot touch Pods", func(t *testing.T) {
		for _, verb := range []string{"get", "list", "create", "delete"} {
			out, _ := kubectl("auth", "can-i", verb, "pods", "-A", "--as=system:serviceaccount:"+releaseNS+":"+releaseName+"-controller")
			if strings.TrimSpace(out) != "no" {
				t.Errorf("controller can-i %s pods: %q, want no", verb, out)
			}
		}
	})

	// The seed's walkthrough: its pool and L2Advertisement (through the
	// controller's webhook), two webpods, svc1..3 as the seed writes them.
	ips := applySeed(t, ctx, root)
	t.Logf("EXTERNAL-IPs %v", ips)
	want := []string{"172.20.255.200", "172.20.255.201", "172.20.255.202"}
	got := []string{ips["svc1"], ips["svc2"], ips["svc3"]}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("EXTERNAL-IPs %v, want the seed's %v", got, want)
	}
	owner := checkAnnounced(t, ctx, "svc1", ips["svc1"])
	webhookRejects(t)

	key := memberlistKey(t, ctx)
	ca := webhookCA(t, ctx)

	// An upgrade that restarts every pod keeps the key and every IP; a
	// client requests svc1 every 50 ms meanwhile.
	probe := startProbe(clientNetns(t), ips["svc1"]+":80")
	start = time.Now()
	if out, err := helm(t, "upgrade", releaseName, "charts/ironlb", "-n", releaseNS, "--wait", "--timeout", "3m",
		"--set", "controller.logLevel=debug", "--set", "speaker.logLevel=debug"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s\n%s", err, out, workloadStates(ctx))
	}
	if err := poll(2*time.Minute, func() error { return workloadsReady(ctx) }); err != nil {
		t.Fatalf("after helm upgrade: %v", err)
	}
	t.Logf("helm upgrade: rolled and Ready in %.1fs", time.Since(start).Seconds())
	pr := probe()
	t.Logf("during helm upgrade: %d of %d requests to svc1 answered, longest gap %v", pr.ok, pr.ok+pr.failed, pr.gap.Round(time.Millisecond))
	if k := memberlistKey(t, ctx); k != key {
		t.Error("helm upgrade changed the memberlist key")
	}
	if webhookCA(t, ctx) != ca {
		t.Error("helm upgrade changed the webhook CA (the chart's empty Secret overwrote the controller's?)")
	}
	webhookRejects(t)
	after := waitExternalIPs(t, ctx, "svc1", "svc2", "svc3")
	for svc, ip := range ips {
		if after[svc] != ip {
			t.Errorf("%s: EXTERNAL-IP %s before helm upgrade, %s after", svc, ip, after[svc])
		}
	}
	if o := checkAnnounced(t, ctx, "svc1", ips["svc1"]); o != owner {
		t.Logf("svc1 announced from %s before the upgrade, %s after", owner, o)
	}

	t.Run("controller's node killed", func(t *testing.T) { controllerNodeKilled(t, ctx, ips) })
	t.Run("apiserver killed", func(t *testing.T) { apiserverKilled(t, ctx, ips) })
	if err := poll(2*time.Minute, func() error { return workloadsReady(ctx) }); err != nil {
		t.Fatalf("after the controller's node came back: %v", err)
	}

	// Uninstall: nothing of the release is left but the CRDs.
	start = time.Now()
	if out, err := helm(t, "uninstall", releaseName, "-n", releaseNS, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	cleanupDone = true
	if err := poll(time.Minute, func() error { return releaseGone(ctx) }); err != nil {
		t.Error(err)
	}
	t.Logf("helm uninstall: everything but the CRDs gone in %.1fs", time.Since(start).Seconds())

	// The same installation without Helm, on the configuration and
	// Services the release left: config/default.
	t.Run("config/default", func(t *testing.T) {
		start := time.Now()
		if out, err := kubectl("-n", releaseNS, "create", "secret", "generic", "memberlist", "--from-literal=secretkey="+strings.Repeat("k8s-e2e-", 8)); err != nil {
			t.Fatalf("creating the memberlist Secret: %v\n%s", err, out)
		}
		if out, err := kubectl("apply", "-k", filepath.Join(root, "config", "default")); err != nil {
			t.Fatalf("kubectl apply -k config/default: %v\n%s", err, out)
		}
		if err := poll(2*time.Minute, func() error { return workloadsReady(ctx) }); err != nil {
			t.Fatalf("after kubectl apply -k: %v", err)
		}
		t.Logf("kubectl apply -k config/default: Ready in %.1fs", time.Since(start).Seconds())
		again := waitExternalIPs(t, ctx, "svc1", "svc2", "svc3")
		for svc, ip := range ips {
			if again[svc] != ip {
				t.Errorf("%s: EXTERNAL-IP %s under the chart, %s under config/default", svc, ip, again[svc])
			}
		}
		checkAnnounced(t, ctx, "svc1", ips["svc1"])
		webhookRejects(t)
		if out, err := kubectl("delete", "-k", filepath.Join(root, "config", "default"), "--wait", "--timeout=2m"); err != nil {
			t.Errorf("kubectl delete -k config/default: %v\n%s", err, out)
		}
	})
}

// startProbe requests http://addr/ from a client every 50 ms until the
// returned function is called, which reports the answered and failed
// requests, when each failed, and the longest time without an answer.
func startProbe(nsPath, addr string) func() probeResult {
	var r probeResult
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			asked := time.Now()
			if _, err := get(nsPath, addr); err != nil {
				r.failed++
				r.failedAt = append(r.failedAt, asked)
				continue
			}
			r.ok++
			if d := time.Since(last); d > r.gap {
				r.gap = d
			}
			last = time.Now()
		}
	}()
	return func() probeResult {
		close(stop)
		<-done
		return r
	}
}

// probeResult is what startProbe saw.
type probeResult struct {
	ok, failed int
	gap        time.Duration
	failedAt   []time.Time
}

// failures are the failed requests' times from zero, at most ten.
func (r probeResult) failures(zero time.Time) string {
	var out []string
	for _, at := range r.failedAt[:min(len(r.failedAt), 10)] {
		out = append(out, fmt.Sprintf("%+.2f s", at.Sub(zero).Seconds()))
	}
	return strings.Join(out, ", ")
}

// webhookRejects: the controller's webhook is called (its caBundle in
// place) and refuses an invalid pool.
func webhookRejects(t *testing.T) {
	t.Helper()
	bad := `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: e2e-bad
  namespace: ` + releaseNS + `
spec:
  addresses:
  - 172.20.255.250-172.20.255.200
`
	var out string
	err := poll(30*time.Second, func() error {
		cmd := exec.Command(filepath.Join(cluster.DefaultBinDir(), "kubectl"), "--kubeconfig", theLab.st.KubeconfigPath(), "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(bad)
		b, err := cmd.CombinedOutput()
		out = string(b)
		if err == nil {
			_, _ = kubectl("delete", "-n", releaseNS, "ipaddresspool", "e2e-bad")
			return fmt.Errorf("an invalid pool was accepted: %s", out)
		}
		if !strings.Contains(out, "denied the request") {
			return fmt.Errorf("not refused by the webhook: %s", out)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// workloadsReady: the controller Deployment and the speaker DaemonSet have
// every pod of their current generation Ready.
func workloadsReady(ctx context.Context) error { return workloadsReadyOf(ctx, releaseName) }

// workloadsReadyOf is workloadsReady for the objects named fullname-controller
// and fullname-speaker.
func workloadsReadyOf(ctx context.Context, fullname string) error {
	d, err := theLab.cs.AppsV1().Deployments(releaseNS).Get(ctx, fullname+"-controller", metav1.GetOptions{})
	if err != nil {
		return err
	}
	if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != *d.Spec.Replicas ||
		d.Status.ReadyReplicas != *d.Spec.Replicas || d.Status.Replicas != *d.Spec.Replicas {
		return fmt.Errorf("controller: %d/%d ready, %d updated; %s", d.Status.ReadyReplicas, *d.Spec.Replicas, d.Status.UpdatedReplicas, workloadStates(ctx))
	}
	ds, err := theLab.cs.AppsV1().DaemonSets(releaseNS).Get(ctx, fullname+"-speaker", metav1.GetOptions{})
	if err != nil {
		return err
	}
	n := int32(len(theLab.st.Plan.Nodes)) // every node, the control plane too
	if ds.Status.ObservedGeneration < ds.Generation || ds.Status.DesiredNumberScheduled != n ||
		ds.Status.NumberReady != n || ds.Status.UpdatedNumberScheduled != n {
		return fmt.Errorf("speakers: %d/%d ready (%d desired, %d updated); %s", ds.Status.NumberReady, n,
			ds.Status.DesiredNumberScheduled, ds.Status.UpdatedNumberScheduled, workloadStates(ctx))
	}
	return nil
}

func workloadStates(ctx context.Context) string {
	pods, err := theLab.cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	return "pods: " + podStates(pods.Items)
}

// speakerCannotWriteServices asks the apiserver with the speaker's own
// ServiceAccount token to change a Service; RBAC must refuse it.
func speakerCannotWriteServices(t *testing.T, ctx context.Context) {
	sa := releaseName + "-speaker"
	tr, err := theLab.cs.CoreV1().ServiceAccounts(releaseNS).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", theLab.st.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg.BearerToken, cfg.BearerTokenFile = tr.Status.Token, ""
	cfg.CertFile, cfg.KeyFile, cfg.CertData, cfg.KeyData = "", "", nil, nil
	cfg.Username, cfg.Password = "", ""
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// It may read them: that is how it elects.
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("speaker token cannot even read a Service: %v", err)
	}
	svc.Labels = map[string]string{"ironlb-e2e": "speaker-was-here"}
	_, err = cs.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("speaker token updating Service default/kubernetes: err = %v, want Forbidden", err)
	}
	_, err = cs.CoreV1().Services("default").Patch(ctx, "kubernetes", types.MergePatchType, []byte(`{"metadata":{"labels":{"ironlb-e2e":"x"}}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("speaker token patching a Service: err = %v, want Forbidden", err)
	}
	_, err = cs.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("speaker token updating a Service's status: err = %v, want Forbidden", err)
	}
	out, _ := kubectl("auth", "can-i", "update", "services", "-A", "--as=system:serviceaccount:"+releaseNS+":"+sa)
	if strings.TrimSpace(out) != "no" {
		t.Errorf("kubectl auth can-i update services as the speaker: %q, want no", out)
	}
}

// waitExternalIPs waits until each Service has an ingress IP and returns them.
func waitExternalIPs(t *testing.T, ctx context.Context, names ...string) map[string]string {
	t.Helper()
	ips := map[string]string{}
	err := poll(time.Minute, func() error {
		for _, n := range names {
			s, err := theLab.cs.CoreV1().Services("default").Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(s.Status.LoadBalancer.Ingress) == 0 {
				return fmt.Errorf("service %s has no EXTERNAL-IP", n)
			}
			ips[n] = s.Status.LoadBalancer.Ingress[0].IP
		}
		return nil
	})
	if err != nil {
		out, _ := kubectl("get", "svc", "-o", "wide")
		ev, _ := kubectl("get", "events", "-A", "--field-selector", "involvedObject.kind=Service")
		t.Fatalf("%v\n%s\n%s", err, out, ev)
	}
	return ips
}

var servicel2statuses = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "servicel2statuses"}

// checkAnnounced: one ServiceL2Status names the node announcing the
// Service, and a client on the lab network gets that node's MAC with arping
// and reaches a webpod through the IP. It returns the node.
func checkAnnounced(t *testing.T, ctx context.Context, svc, ip string) string {
	t.Helper()
	dyn, err := dynamic.NewForConfig(restConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	var node string
	err = poll(time.Minute, func() error {
		list, err := dyn.Resource(servicel2statuses).Namespace(releaseNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var nodes []string
		for _, o := range list.Items {
			if name, _, _ := unstructured.NestedString(o.Object, "status", "serviceName"); name == svc {
				n, _, _ := unstructured.NestedString(o.Object, "status", "node")
				nodes = append(nodes, n)
			}
		}
		if len(nodes) != 1 {
			return fmt.Errorf("ServiceL2Status of %s: nodes %v, want one", svc, nodes)
		}
		node = nodes[0]
		return nil
	})
	if err != nil {
		out, _ := kubectl("get", "servicel2status", "-n", releaseNS, "-o", "wide")
		t.Fatalf("%v\n%s", err, out)
	}
	nsPath := clientNetns(t)
	if _, ok := theLab.st.NodeIP(node); !ok {
		t.Fatalf("ServiceL2Status names %s, not a lab node", node)
	}
	var out []byte
	err = poll(30*time.Second, func() error {
		out, err = theLab.st.Command(chartClient, "arping", "-c", "2", "-w", "3", "-I", "eth0", ip).CombinedOutput()
		if err != nil {
			return fmt.Errorf("arping %s: %v\n%s", ip, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mac := regexp.MustCompile(`\[([0-9a-fA-F:]{17})\]`).FindSubmatch(out)
	if mac == nil {
		t.Fatalf("arping %s: no MAC in\n%s", ip, out)
	}
	nodeMAC := nodeMAC(t, node)
	if !strings.EqualFold(string(mac[1]), nodeMAC) {
		t.Errorf("arping %s answered by %s, want %s's %s\n%s", ip, mac[1], node, nodeMAC, out)
	}
	var page string
	err = poll(30*time.Second, func() error {
		var err error
		page, err = get(nsPath, netip.AddrPortFrom(netip.MustParseAddr(ip), 80).String())
		return err
	})
	if err != nil {
		t.Fatalf("curl %s from %s: %v", ip, chartClient, err)
	}
	if h := field(page, "Hostname"); !strings.HasPrefix(h, "webpod") {
		t.Errorf("curl %s: Hostname %q, want a webpod", ip, h)
	}
	t.Logf("%s (%s) announced by %s (%s), curl reached %s", svc, ip, node, mac[1], field(page, "Hostname"))
	return node
}

// clientNetns adds this file's client once and returns its namespace.
func clientNetns(t *testing.T) string {
	t.Helper()
	for _, c := range theLab.st.Clients {
		if c.Name == chartClient {
			return cluster.NetnsPath(chartClient)
		}
	}
	return addClient(t, chartClient, chartClientIP)
}

// nodeMAC is the MAC of the node's lab interface (eth0 in its namespace;
// netlink, since /sys under nsenter --net is still the host's).
func nodeMAC(t *testing.T, node string) string {
	t.Helper()
	out, err := theLab.st.Command(node, "ip", "-o", "link", "show", "eth0").Output()
	if err != nil {
		t.Fatalf("MAC of %s: %v", node, err)
	}
	m := regexp.MustCompile(`link/ether ([0-9a-f:]{17})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no MAC in %s's ip link: %s", node, out)
	}
	return string(m[1])
}

// memberlistKey is the chart's memberlist Secret's key.
func memberlistKey(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := theLab.cs.CoreV1().Secrets(releaseNS).Get(ctx, releaseName+"-memberlist", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := string(s.Data["secretkey"])
	if len(k) != 22 {
		t.Fatalf("memberlist key of %d bytes, want MetalLB's 128 random bits in unpadded base64 (22)", len(k))
	}
	return k
}

// webhookCA is the CA the controller keeps in the chart's webhook Secret,
// and checks it is the caBundle of the webhook configuration.
func webhookCA(t *testing.T, ctx context.Context) string {
	t.Helper()
	var ca string
	err := poll(30*time.Second, func() error {
		s, err := theLab.cs.CoreV1().Secrets(releaseNS).Get(ctx, releaseName+"-webhook-cert", metav1.GetOptions{})
		if err != nil {
			return err
		}
		ca = string(s.Data["ca.crt"])
		if ca == "" {
			return fmt.Errorf("webhook Secret has no ca.crt yet")
		}
		vwc, err := theLab.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, releaseName+"-webhook-configuration", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, w := range vwc.Webhooks {
			if !strings.Contains(string(w.ClientConfig.CABundle), strings.TrimSpace(ca)) {
				return fmt.Errorf("webhook %s: caBundle does not hold the Secret's CA", w.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// releaseGone: no object of the release is left in the namespace or the
// cluster, but the CRDs are.
func releaseGone(ctx context.Context) error {
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + releaseName}
	var left []string
	add := func(kind string, n int, err error) {
		if err != nil {
			left = append(left, kind+": "+err.Error())
		} else if n > 0 {
			left = append(left, fmt.Sprintf("%d %s", n, kind))
		}
	}
	cs := theLab.cs
	dep, err := cs.AppsV1().Deployments(releaseNS).List(ctx, sel)
	add("Deployments", lenOr(dep, err, func() int { return len(dep.Items) }), err)
	ds, err := cs.AppsV1().DaemonSets(releaseNS).List(ctx, sel)
	add("DaemonSets", lenOr(ds, err, func() int { return len(ds.Items) }), err)
	pods, err := cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{})
	add("Pods", lenOr(pods, err, func() int { return len(pods.Items) }), err)
	sec, err := cs.CoreV1().Secrets(releaseNS).List(ctx, metav1.ListOptions{})
	add("Secrets", lenOr(sec, err, func() int { return len(sec.Items) }), err)
	svc, err := cs.CoreV1().Services(releaseNS).List(ctx, metav1.ListOptions{})
	add("Services", lenOr(svc, err, func() int { return len(svc.Items) }), err)
	sas, err := cs.CoreV1().ServiceAccounts(releaseNS).List(ctx, sel)
	add("ServiceAccounts", lenOr(sas, err, func() int { return len(sas.Items) }), err)
	roles, err := cs.RbacV1().Roles(releaseNS).List(ctx, sel)
	add("Roles", lenOr(roles, err, func() int { return len(roles.Items) }), err)
	rbs, err := cs.RbacV1().RoleBindings(releaseNS).List(ctx, sel)
	add("RoleBindings", lenOr(rbs, err, func() int { return len(rbs.Items) }), err)
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, sel)
	add("ClusterRoles", lenOr(crs, err, func() int { return len(crs.Items) }), err)
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, sel)
	add("ClusterRoleBindings", lenOr(crbs, err, func() int { return len(crbs.Items) }), err)
	vwcs, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, sel)
	add("ValidatingWebhookConfigurations", lenOr(vwcs, err, func() int { return len(vwcs.Items) }), err)
	if cfg := restConfigNoT(); cfg != nil {
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return err
		}
		l2, err := dyn.Resource(servicel2statuses).Namespace(releaseNS).List(ctx, metav1.ListOptions{})
		add("ServiceL2Statuses", lenOr(l2, err, func() int { return len(l2.Items) }), err)
	}
	if len(left) > 0 {
		return fmt.Errorf("after helm uninstall, still there: %s", strings.Join(left, ", "))
	}
	crds, err := kubectl("get", "crd", "-o", "name")
	if err != nil || strings.Count(crds, ".metallb.io") != crdCount {
		return fmt.Errorf("after helm uninstall the %d metallb.io CRDs should stay: %v\n%s", crdCount, err, crds)
	}
	return nil
}

func lenOr[T any](list *T, err error, n func() int) int {
	if err != nil || list == nil {
		return 0
	}
	return n()
}

func restConfigNoT() *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", theLab.st.KubeconfigPath())
	if err != nil {
		return nil
	}
	return cfg
}

func restConfig(t *testing.T) *rest.Config {
	t.Helper()
	cfg := restConfigNoT()
	if cfg == nil {
		t.Fatal("no rest config for the lab")
	}
	return cfg
}
