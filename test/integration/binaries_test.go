//go:build e2e

package integration

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/test/proc"
	"github.com/ironlb/ironlb/test/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds cmd/<name> once per test run and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ironlb-bin-")
		if buildErr != nil {
			return
		}
		_, buildErr = testenv.BuildBinaries(env.Root, binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

type process = proc.Proc

// start runs a binary with the given arguments and environment; the process
// is killed at the end of the test if it still runs.
func start(t *testing.T, path string, extraEnv []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	p, err := proc.Start(filepath.Base(path), cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.Name, p.All())
		}
	})
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

var insecureClient = &http.Client{
	Timeout: 5 * time.Second,
	// The binaries' serving certificate is self-signed; what is under test
	// here is who may read, not the certificate.
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec
}

// get returns the status code and body of url, with a bearer token if given.
func get(url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := insecureClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitFor polls url until it answers 200, for at most limit.
func waitFor(t *testing.T, p *process, url string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for attempt := 0; ; attempt++ {
		code, _, err := get(url, "")
		if err == nil && code == http.StatusOK {
			return
		}
		if !p.Running() {
			t.Fatalf("process exited (%v) before %s answered", p.Err(), url)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s (%d attempts; last: code %d, err %v)", url, limit, attempt, code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitListening waits until something accepts TCP connections on port, for
// at most limit: the metrics server starts after the health probes.
func waitListening(t *testing.T, p *process, port int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if !p.Running() {
			t.Fatalf("process exited (%v) before port %d listened", p.Err(), port)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d after %s: %v", port, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serviceAccountToken creates a ServiceAccount, optionally bound to a
// ClusterRole, and returns a token for it.
func serviceAccountToken(t *testing.T, name, clusterRole string) string {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().ServiceAccounts(namespace).Delete(ctx, name, metav1.DeleteOptions{}) })
	if clusterRole != "" {
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}) })
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

var metricsReaderOnce sync.Once

func applyMetricsReaderRole(t *testing.T) {
	t.Helper()
	var err error
	metricsReaderOnce.Do(func() {
		_, err = env.Kubectl("", "apply", "-f", filepath.Join(env.Root, "config", "rbac", "metrics_reader.yaml"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBinariesServeAndStop runs each binary as its pod spec would (settings
// through MetalLB's environment variables), checks its health endpoints and
// that /metrics answers only authorized scrapers, then stops it with SIGTERM.
func TestBinariesServeAndStop(t *testing.T) {
	applyMetricsReaderRole(t)
	reader := serviceAccountToken(t, "scraper", "ironlb-metrics-reader")
	stranger := serviceAccountToken(t, "stranger", "")

	tests := []struct {
		binary  string
		env     []string
		wantLog string
	}{
		{"controller", []string{"METALLB_NAMESPACE=" + namespace}, `"namespace":"metallb-system"`},
		{"speaker", []string{"METALLB_NAMESPACE=" + namespace, "METALLB_NODE_NAME=myk8s-worker", "METALLB_ML_BIND_PORT=7947"}, `"node":"myk8s-worker"`},
	}
	for _, tt := range tests {
		t.Run(tt.binary, func(t *testing.T) {
			metricsPort, probePort := freePort(t), freePort(t)
			args := []string{"--kubeconfig", env.Kubeconfig, "--port", strconv.Itoa(metricsPort), "--health-probe-port", strconv.Itoa(probePort)}
			if tt.binary == "controller" {
				bgpPeerCRD(t) // the controller takes the CRD's conversion over
				args = append(args, "--webhook-port", strconv.Itoa(freePort(t)), "--cert-dir", t.TempDir())
			}
			p := start(t, binary(t, tt.binary), tt.env, args...)
			base := fmt.Sprintf("http://127.0.0.1:%d", probePort)
			waitFor(t, p, base+"/healthz", 30*time.Second)
			waitFor(t, p, base+"/readyz", 30*time.Second)

			metrics := fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort)
			waitListening(t, p, metricsPort, 30*time.Second)
			for _, c := range []struct {
				who, token string
				want       int
			}{
				{"anonymous", "", http.StatusUnauthorized},
				{"a service account without the reader role", stranger, http.StatusForbidden},
				{"the metrics reader", reader, http.StatusOK},
			} {
				code, body, err := get(metrics, c.token)
				if err != nil {
					t.Fatalf("GET %s as %s: %v", metrics, c.who, err)
				}
				if code != c.want {
					t.Errorf("GET /metrics as %s = %d, want %d", c.who, code, c.want)
				}
				if code == http.StatusOK && !strings.Contains(body, "go_goroutines") {
					t.Errorf("/metrics body has no go_goroutines:\n%.500s", body)
				}
			}
			if !strings.Contains(p.All(), tt.wantLog) {
				t.Errorf("startup log lacks %s (from the environment):\n%s", tt.wantLog, p.All())
			}

			exited, err := p.Stop(syscall.SIGTERM, 15*time.Second)
			if !exited {
				t.Fatal("still running 15s after SIGTERM")
			}
			if err != nil {
				t.Errorf("exit after SIGTERM: %v, want status 0", err)
			}
			if !strings.Contains(p.All(), tt.binary+" stopped") {
				t.Errorf("no %q log line on the way out", tt.binary+" stopped")
			}
		})
	}
}

// TestBinariesHelpAndBadFlags: --help documents every MetalLB-compatible
// flag with its environment variable, and a missing required setting is a
// usage error (exit 2) that names the flag.
func TestBinariesHelpAndBadFlags(t *testing.T) {
	tests := []struct {
		binary   string
		wantHelp []string
		bad      []string
		wantErr  string
	}{
		{"controller",
			[]string{"-kubeconfig", "(env KUBECONFIG)", "-namespace", "(env METALLB_NAMESPACE)", "-port", "(default 9120)", "-log-level", "-health-probe-port"},
			[]string{}, "--namespace"},
		{"speaker",
			[]string{"-node-name", "(env METALLB_NODE_NAME)", "-host", "(env METALLB_HOST)", "-ml-bindaddr", "(env METALLB_ML_BIND_ADDR)",
				"-ml-bindport", "(env METALLB_ML_BIND_PORT)", "(default 7946)", "-ml-labels", "(env METALLB_ML_LABELS)",
				`(default "app=metallb,component=speaker")`, "-ml-secret-key-path", "(env METALLB_ML_SECRET_KEY_PATH)",
				"-namespace", "(env METALLB_NAMESPACE)", "-port", "-log-level", "-lb-class", "-kubeconfig",
				"-bgp-graceful-shutdown", "-bgp-graceful-shutdown-wait", "(default 5s)"},
			[]string{"--namespace", namespace}, "--node-name"},
	}
	for _, tt := range tests {
		t.Run(tt.binary, func(t *testing.T) {
			path := binary(t, tt.binary)
			help, err := exec.Command(path, "--help").CombinedOutput()
			if err != nil {
				t.Fatalf("--help: %v\n%s", err, help)
			}
			for _, w := range tt.wantHelp {
				if !strings.Contains(string(help), w) {
					t.Errorf("--help lacks %q:\n%s", w, help)
				}
			}
			cmd := exec.Command(path, tt.bad...)
			cmd.Env = filteredEnv("METALLB_")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("without %s: err %v, want exit status 2\n%s", tt.wantErr, err, out)
			}
			if !strings.Contains(string(out), tt.wantErr) {
				t.Errorf("usage error does not name %s:\n%s", tt.wantErr, out)
			}
			cmd = exec.Command(path, append(tt.bad, "--log-level", "loud")...)
			if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "--log-level") {
				t.Errorf("--log-level loud: err %v, output %s", err, out)
			}
		})
	}
}

func filteredEnv(prefix string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// TestSpeakerRefusesUnencryptedMemberlist: memberlist on (--ml-bindaddr)
// without a key, or with an empty one, is refused with a message naming
// the problem; without --ml-bindaddr the speaker says it falls back to
// Node readiness.
func TestSpeakerRefusesUnencryptedMemberlist(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "secretkey"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no key path", nil, "--ml-secret-key-path is empty"},
		{"empty key", []string{"--ml-secret-key-path", empty}, "is empty"},
		{"missing key file", []string{"--ml-secret-key-path", t.TempDir()}, "reading the memberlist key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--kubeconfig", env.Kubeconfig, "--namespace", namespace, "--node-name", "myk8s-worker",
				"--ml-bindaddr", "127.0.0.1", "--ml-bindport", strconv.Itoa(freePort(t)), "--port", "0", "--health-probe-port", "0"}, tc.args...)
			cmd := exec.Command(binary(t, "speaker"), args...)
			cmd.Env = filteredEnv("METALLB_")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("err %v, want exit status 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
	p := start(t, binary(t, "speaker"), filteredEnv("METALLB_"), "--kubeconfig", env.Kubeconfig, "--namespace", namespace,
		"--node-name", "myk8s-worker", "--port", "0", "--health-probe-port", "0")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.All(), "memberlist disabled") {
		if time.Now().After(deadline) {
			t.Fatalf("no fallback notice in the log:\n%s", p.All())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestControllerCreatesMemberlistSecret: run as MetalLB's manifests run it
// (METALLB_ML_SECRET_NAME, METALLB_DEPLOYMENT, --tls-min-version, a
// MetalLB-only flag), the controller creates the speakers' memberlist
// Secret once, owned by its Deployment, names the ignored flag in a warning,
// and a restart keeps the key: no render or restart can change it.
func TestControllerCreatesMemberlistSecret(t *testing.T) {
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	const secretName, deployName = "memberlist-created", "ml-owner"
	labels := map[string]string{"app": "ml-owner"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deployName, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c"}}}},
		},
	}
	d, err = cs.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.AppsV1().Deployments(namespace).Delete(ctx, deployName, metav1.DeleteOptions{})
		_ = cs.CoreV1().Secrets(namespace).Delete(ctx, secretName, metav1.DeleteOptions{})
	})

	run := func() *process {
		probePort := freePort(t)
		p := start(t, binary(t, "controller"),
			[]string{"METALLB_NAMESPACE=" + namespace, "METALLB_ML_SECRET_NAME=" + secretName, "METALLB_DEPLOYMENT=" + deployName},
			"--kubeconfig", env.Kubeconfig, "--port", "0", "--health-probe-port", strconv.Itoa(probePort),
			"--webhook-mode=disabled", "--tls-min-version=VersionTLS12", "--enable-pprof")
		waitFor(t, p, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort), 30*time.Second)
		return p
	}
	p := run()
	s, err := cs.CoreV1().Secrets(namespace).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no memberlist Secret once the controller is ready: %v", err)
	}
	key := string(s.Data["secretkey"])
	if len(key) != 22 {
		t.Errorf("secretkey %q: want MetalLB's 128 random bits, base64 without padding (22 characters)", key)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != d.UID || s.OwnerReferences[0].Kind != "Deployment" {
		t.Errorf("owner references %+v, want the Deployment %s (uid %s)", s.OwnerReferences, deployName, d.UID)
	}
	if !strings.Contains(p.All(), "ignoring MetalLB settings") || !strings.Contains(p.All(), "--enable-pprof=true") {
		t.Errorf("no warning naming the ignored --enable-pprof:\n%s", p.All())
	}
	if exited, _ := p.Stop(syscall.SIGTERM, 15*time.Second); !exited {
		t.Fatal("still running 15s after SIGTERM")
	}

	run()
	s, err = cs.CoreV1().Secrets(namespace).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data["secretkey"]); got != key {
		t.Errorf("a restarted controller changed the memberlist key: %q, was %q", got, key)
	}
}

// TestSpeakerAcceptsMetalLBSettings: the speaker started with MetalLB's
// own flags and environment, FRR-mode leftovers included, runs, and says
// once which of them mean nothing to it.
func TestSpeakerAcceptsMetalLBSettings(t *testing.T) {
	probePort := freePort(t)
	p := start(t, binary(t, "speaker"),
		append(filteredEnv("METALLB_"), "METALLB_NAMESPACE="+namespace, "METALLB_NODE_NAME=myk8s-worker",
			"METALLB_BGP_TYPE=frr", "FRR_CONFIG_FILE=/etc/frr_reloader/frr.conf"),
		"--kubeconfig", env.Kubeconfig, "--port=0", "--log-level=info", "--health-probe-port", strconv.Itoa(probePort),
		"--ignore-exclude-lb", "--ml-wan-config", "--enable-pprof", "--frrk8s-namespace=frr-k8s-system",
		"--tls-min-version=VersionTLS12", "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
	waitFor(t, p, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort), 30*time.Second)
	log := p.All()
	if n := strings.Count(log, "ignoring MetalLB settings"); n != 1 {
		t.Errorf("%d warning lines about ignored MetalLB settings, want exactly 1:\n%s", n, log)
	}
	for _, want := range []string{"--ml-wan-config=true", "--enable-pprof=true", "--frrk8s-namespace=frr-k8s-system", "METALLB_BGP_TYPE=frr", "FRR_CONFIG_FILE", `"ignoreExcludeLB":true`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}
