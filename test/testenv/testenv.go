// Package testenv starts the real control plane IronLB's integration tests
// run against: Debian's etcd and a kube-apiserver built by
// hack/k8s-binaries.sh, through controller-runtime's envtest, with IronLB's
// CRDs installed. Start it once per test package, from TestMain.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/ironlb/ironlb/test/cache"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ironlb/ironlb/internal/cli"
)

// Env is a running control plane.
type Env struct {
	Environment *envtest.Environment
	Config      *rest.Config
	Client      client.Client
	// Root is the repository root, for paths to manifests.
	Root string
	// Kubeconfig is the path of a cluster-admin kubeconfig file, for kubectl
	// and for IronLB's binaries.
	Kubeconfig string
	// KubectlPath is the kubectl of the same Kubernetes version.
	KubectlPath string
	dir         string
	// certDir holds the apiserver's serving and client CAs, kept across
	// StopAPIServer and StartAPIServer so clients keep trusting it.
	certDir string
}

// Option changes how the control plane starts.
type Option func(*envtest.Environment)

// WithAPIServerArg sets a kube-apiserver flag, for example a Service CIDR
// large enough for a benchmark.
func WithAPIServerArg(name, value string) Option {
	return func(e *envtest.Environment) {
		e.ControlPlane.GetAPIServer().Configure().Set(name, value)
	}
}

// WithListenAddress makes kube-apiserver listen on (and issue its serving
// certificate for) the given address, so that processes in network
// namespaces reach it through a lab's gateway.
func WithListenAddress(addr string) Option {
	return func(e *envtest.Environment) {
		// envtest keeps an address only together with a port.
		port := "0"
		if l, err := net.Listen("tcp", net.JoinHostPort(addr, "0")); err == nil {
			port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
			_ = l.Close()
		}
		s := &e.ControlPlane.GetAPIServer().SecureServing
		s.Address, s.Port = addr, port
	}
}

// Start builds or finds the binaries, starts etcd and kube-apiserver, installs
// every CRD under config/crd/bases and waits until they are served.
func Start(opts ...Option) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := AssetsDir(root)
	if err != nil {
		return nil, err
	}
	scheme, err := cli.NewScheme()
	if err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	for _, o := range opts {
		o(env)
	}
	// A certificate directory of our own: envtest deletes one it made
	// itself when the apiserver stops, and a restarted apiserver would then
	// serve with a new CA that no kubeconfig trusts.
	certDir, err := os.MkdirTemp("", "ironlb-testenv-apiserver-")
	if err != nil {
		return nil, fmt.Errorf("creating the apiserver's certificate directory: %w", err)
	}
	env.ControlPlane.GetAPIServer().CertDir = certDir
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting control plane from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("creating client: %w", err)
	}
	e := &Env{Environment: env, Config: cfg, Client: c, Root: root, KubectlPath: filepath.Join(assets, "kubectl"), certDir: certDir}
	if err := e.writeAdminKubeconfig(); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) writeAdminKubeconfig() error {
	admin, err := e.Environment.ControlPlane.AddUser(envtest.User{Name: "ironlb-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding admin user: %w", err)
	}
	data, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering admin kubeconfig: %w", err)
	}
	e.dir, err = os.MkdirTemp("", "ironlb-testenv-")
	if err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(e.dir, "admin.kubeconfig")
	return os.WriteFile(e.Kubeconfig, data, 0o600)
}

// Stop stops the control plane and removes its data.
func (e *Env) Stop() error {
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
	err := e.Environment.Stop()
	_ = os.RemoveAll(e.certDir)
	return err
}

// StopAPIServer stops kube-apiserver as kubelet stops a static pod:
// SIGTERM, then SIGKILL if it still runs after grace (with clients
// watching, kube-apiserver drains for up to its request timeout, a
// minute). etcd keeps running: every object survives. It reports whether
// the SIGKILL was needed.
func (e *Env) StopAPIServer(grace time.Duration) (killed bool, err error) {
	pid, err := e.apiServerPID()
	if err != nil {
		return false, err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, fmt.Errorf("stopping kube-apiserver (pid %d): %w", pid, err)
	}
	if !waitGone(pid, grace) {
		killed = true
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(pid, apiServerReapLimit) {
			return true, fmt.Errorf("kube-apiserver (pid %d) still there %s after SIGKILL", pid, apiServerReapLimit)
		}
	}
	// envtest sees the exit and only tidies up. Its wait goroutine may
	// not have recorded the exit yet when the process is already reaped;
	// its Stop then fails to signal a process that is gone, which is done.
	if err := e.Environment.ControlPlane.GetAPIServer().Stop(); err != nil &&
		!errors.Is(err, syscall.ESRCH) && !errors.Is(err, os.ErrProcessDone) {
		return killed, fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return killed, nil
}

// apiServerReapLimit bounds the wait for a SIGKILLed apiserver to be
// reaped; it takes milliseconds.
const apiServerReapLimit = 10 * time.Second

// apiServerPID finds kube-apiserver by its certificate directory, which
// is this Env's own.
func (e *Env) apiServerPID() (int, error) {
	want := "--cert-dir=" + e.certDir
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if strings.HasSuffix(args[0], "kube-apiserver") && slices.Contains(args, want) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no kube-apiserver process with %s", want)
}

// waitGone polls until the process is reaped or limit passes.
func waitGone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the
// same address with the same certificates, so existing clients and
// kubeconfigs reconnect, and waits until it is healthy.
func (e *Env) StartAPIServer() error {
	if err := e.Environment.ControlPlane.GetAPIServer().Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// Kubectl runs the kubectl built beside the apiserver as cluster admin, with
// stdin as its standard input, and returns its standard output. The error
// carries standard error.
func (e *Env) Kubectl(stdin string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(e.KubectlPath, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// KubectlOutput is Kubectl that also returns standard error, where kubectl
// prints admission warnings.
func (e *Env) KubectlOutput(stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(e.KubectlPath, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// FreePort returns a TCP port on loopback that was free a moment ago, for
// the health and webhook ports of the binaries tests start.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// AssetsDir returns the folder holding etcd, kube-apiserver and kubectl:
// $KUBEBUILDER_ASSETS when set (make test-e2e sets it), otherwise the cached
// build of hack/k8s-binaries.sh. It never builds them: compiling Kubernetes
// takes minutes, which a test must not spend unannounced, so when they are
// missing the error names the command that builds them.
func AssetsDir(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	dir, err := cache.K8sBinDir()
	if err != nil {
		return "", err
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s not built (looked in %s): run 'make k8s-binaries' in %s, or set KUBEBUILDER_ASSETS", name, dir, root)
		}
	}
	return dir, nil
}

// RepoRoot finds the repository root: the nearest parent of the working
// directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Main is a test package's TestMain body: it starts the package's one
// control plane into *env, runs setup (if any) and the tests, and stops the
// control plane however they end. It returns the exit code for os.Exit.
func Main(m *testing.M, env **Env, setup func(*Env) error, opts ...Option) int {
	e, err := Start(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting control plane: %v\n", err)
		return 1
	}
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping control plane: %v\n", err)
		}
	}()
	*env = e
	if setup != nil {
		if err := setup(e); err != nil {
			fmt.Fprintf(os.Stderr, "setting up the control plane: %v\n", err)
			return 1
		}
	}
	return m.Run()
}
