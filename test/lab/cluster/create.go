package cluster

import (
	"context"
	"errors"
	"fmt"
	"github.com/ironlb/ironlb/test/cache"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ironlb/ironlb/test/lab/images"
)

// Options are the knobs of Create beyond the kind config.
type Options struct {
	// BinDir holds the Kubernetes binaries (hack/k8s-binaries.sh prints
	// it); default $IRONLB_CACHE/k8s/$K8S_VERSION/bin.
	BinDir string
	// Kubeconfig is the file the cluster's context is merged into, as
	// kind does; default $KUBECONFIG's first entry or ~/.kube/config.
	// "-" merges nowhere.
	Kubeconfig string
	// Wait bounds the wait for every Node to be Ready; default 3 minutes.
	Wait time.Duration
	// Images are imported into every node before its kubelet starts
	// (pause must be there: nothing can be pulled from outside) and served
	// by the registry. LabImages builds them.
	Images []images.Image
	// RegistryBinary, when set, runs the lab registry on the gateway
	// (172.20.0.1:5000); every node's containerd pulls docker.io,
	// registry.k8s.io, quay.io and ghcr.io images from it, so manifests
	// with :latest images work. Without it images come only from Images
	// and `load image-archive`.
	RegistryBinary string
	// Retain keeps a failed cluster for its logs, as kind's --retain;
	// `delete cluster` removes it then.
	Retain bool
}

// hostSysctls are the machine-wide sysctls the kubelet rewrites at start
// (as it does in kind); create records them, delete restores them.
var hostSysctls = []string{
	"kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory", "vm/panic_on_oom",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// DefaultBinDir is where hack/k8s-binaries.sh caches the binaries.
func DefaultBinDir() string {
	dir, _ := cache.K8sBinDir() // without a home directory: "", and the binaries are not found
	return dir
}

// Create brings the cluster up and returns once every Node is Ready. On
// failure it removes whatever it made and, if it got that far, still
// returns the state, so a caller can check with Leftovers that nothing
// stayed.
func Create(ctx context.Context, name string, cfg *Config, progress Progress, o Options) (st *State, err error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if progress == nil {
		progress = Quiet{}
	}
	if o.BinDir == "" {
		o.BinDir = DefaultBinDir()
	}
	if o.Wait == 0 {
		o.Wait = 3 * time.Minute
	}
	plan, err := NewPlan(name, cfg)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the lab makes network namespaces, links and cgroups: run it as root")
	}
	if w := cfg.Warning(); w != "" {
		progress.Warn(w)
	}
	if err := checkBinaries(o.BinDir); err != nil {
		return nil, err
	}
	root, err := StateRoot()
	if err != nil {
		return nil, err
	}
	s := &State{Plan: plan, Dir: filepath.Join(root, name), RunDir: filepath.Join(runRoot, name), Creator: self()}
	if _, err := os.Stat(s.Dir); err == nil {
		return nil, fmt.Errorf("cluster %q exists already (state in %s): delete it first", name, s.Dir)
	}
	var names []string
	for _, n := range plan.Nodes {
		names = append(names, n.Name)
	}
	if err := checkFree(plan, names); err != nil {
		return nil, err
	}
	if s.Cgroups, err = detectCgroups(); err != nil {
		return nil, err
	}
	s.Sysctls = readSysctls()
	defer func() {
		if err != nil && o.Retain {
			err = fmt.Errorf("%w (kept for its logs in %s; ironlab delete cluster --name %s removes it)", err, s.Dir, name)
			st = s
			return
		}
		if err != nil {
			if derr := s.teardown(); derr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
			}
			st = s
		}
	}()
	for _, d := range []string{s.Dir, s.RunDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := s.save(); err != nil {
		return nil, err
	}

	if err := step(progress, "Preparing nodes 📦", func() error { return s.prepare() }); err != nil {
		return nil, err
	}
	if o.RegistryBinary != "" {
		s.Registry = s.registryAddr()
		if err := step(progress, "Starting the image registry on "+s.Registry+" 🗄️", func() error {
			return s.startRegistry(ctx, o.RegistryBinary, o.Images)
		}); err != nil {
			return nil, err
		}
	}
	if err := step(progress, "Writing configuration 📜", func() error { return s.writeConfig(cfg, o.BinDir) }); err != nil {
		return nil, err
	}
	var tarballs []string
	for _, img := range o.Images {
		tarballs = append(tarballs, img.Tarball)
	}
	if err := step(progress, "Starting control-plane and every node's containerd 🕹️", func() error {
		return s.startControlPlane(ctx, tarballs)
	}); err != nil {
		return nil, err
	}
	if err := step(progress, "Starting kubelets and kube-proxies 🚜", func() error {
		return s.onNodes(func(node string) error { return s.startNode(ctx, node, isKubeletOrProxy, nil) })
	}); err != nil {
		return nil, err
	}
	if err := step(progress, fmt.Sprintf("Waiting ≤ %s for %d nodes Ready ⏳", o.Wait, len(plan.Nodes)), func() error {
		return s.waitNodes(ctx, o.Wait)
	}); err != nil {
		return nil, err
	}
	if o.Kubeconfig != "-" {
		if err := s.mergeKubeconfig(o.Kubeconfig); err != nil {
			return nil, err
		}
	}
	return s, s.save()
}

func checkBinaries(bin string) error {
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("no %s in %s: build the Kubernetes binaries first (make k8s-binaries)", b, bin)
		}
	}
	return nil
}

func readSysctls() map[string]string {
	m := map[string]string{}
	for _, k := range hostSysctls {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			m[k] = strings.TrimSpace(string(b))
		}
	}
	return m
}

// prepare makes the network and the cgroups.
func (s *State) prepare() error {
	if err := addBridge(s.Plan); err != nil {
		return err
	}
	if err := s.allowBridged(); err != nil {
		return err
	}
	for _, n := range s.Plan.Nodes {
		if err := addNode(s.Plan, n); err != nil {
			return err
		}
		if err := s.Cgroups.Ensure(filepath.Join(s.cgroupRel(n.Name), "system")); err != nil {
			return err
		}
		if err := os.MkdirAll(s.nodeRun(n.Name), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes certificates, kubeconfigs and every daemon's config.
func (s *State) writeConfig(cfg *Config, bin string) error {
	p, err := newPKI(filepath.Join(s.Dir, "pki"), s.Plan, tokenUsers(s.Plan))
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	server := s.Plan.APIServer()
	for file, user := range map[string]string{
		"kubeconfig": "kubernetes-admin", "controller-manager.conf": "system:kube-controller-manager",
		"scheduler.conf": "system:kube-scheduler", "kube-proxy.conf": "system:kube-proxy",
	} {
		if err := writeKubeconfig(filepath.Join(s.Dir, file), s.contextName(), server, p.caBytes, p.tokens[user]); err != nil {
			return err
		}
	}
	files := map[string]string{
		// Pods resolve nothing outside the lab; no cluster DNS yet.
		filepath.Join(s.Dir, "resolv.conf"): "nameserver 127.0.0.1\n",
	}
	s.Daemons = map[string][]Daemon{}
	for _, n := range s.Plan.Nodes {
		dir := s.nodeDir(n.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := writeKubeconfig(filepath.Join(dir, "kubelet.conf"), s.contextName(), server, p.caBytes, p.tokens["system:node:"+n.Name]); err != nil {
			return err
		}
		kubelet, err := s.kubeletConfig(n, cfg)
		if err != nil {
			return err
		}
		proxy, err := s.kubeProxyConfig(n, cfg)
		if err != nil {
			return err
		}
		files[filepath.Join(dir, "containerd.toml")] = s.containerdConfig(n.Name)
		files[filepath.Join(dir, "cni", "10-ironlab.conflist")] = s.cniConfig(n)
		files[filepath.Join(dir, "kubelet.yaml")] = kubelet
		files[filepath.Join(dir, "kube-proxy.yaml")] = proxy
		for f, c := range s.registryHosts(n.Name) {
			files[f] = c
		}
		var ds []Daemon
		if n.Role == RoleControlPlane {
			ds = s.controlPlaneDaemons(cfg, bin)
		}
		s.Daemons[n.Name] = append(ds, s.nodeDaemons(n, bin)...)
	}
	if err := writeFiles(files); err != nil {
		return err
	}
	return s.save()
}

// startControlPlane starts the control plane and, while the apiserver
// comes up, every node's containerd with the lab's images imported: the
// kubelets, started next, find their runtime and the pause image ready.
func (s *State) startControlPlane(ctx context.Context, tarballs []string) error {
	cp := s.Plan.ControlPlane()
	for _, d := range s.Daemons[cp.Name] {
		if isControlPlane(d.Name) {
			if err := s.launch(cp.Name, d); err != nil {
				return err
			}
		}
	}
	runtimes := make(chan error, 1)
	go func() {
		runtimes <- s.onNodes(func(node string) error {
			return s.startNode(ctx, node, func(d string) bool { return d == "containerd" }, tarballs)
		})
	}()
	return errors.Join(s.waitAPIServer(ctx, 90*time.Second), <-runtimes)
}

func isControlPlane(daemon string) bool {
	switch daemon {
	case "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler":
		return true
	}
	return false
}

func isKubeletOrProxy(daemon string) bool { return daemon == "kubelet" || daemon == "kube-proxy" }

// onNodes runs f for every node in parallel.
func (s *State) onNodes(f func(node string) error) error {
	errs := make([]error, len(s.Plan.Nodes))
	var wg sync.WaitGroup
	for i, n := range s.Plan.Nodes {
		wg.Go(func() { errs[i] = f(n.Name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startNode starts the node's daemons that want names, in order;
// containerd must answer before the kubelet starts, or the kubelet exits.
// tarballs are imported once containerd answers.
func (s *State) startNode(ctx context.Context, node string, want func(daemon string) bool, tarballs []string) error {
	for _, d := range s.Daemons[node] {
		if !want(d.Name) {
			continue
		}
		if d.Name == "containerd" {
			// A killed containerd leaves its socket behind.
			_ = os.Remove(s.ContainerdSocket(node))
		}
		if err := s.launch(node, d); err != nil {
			return err
		}
		if d.Name == "containerd" {
			if err := waitSocket(s.ContainerdSocket(node), 20*time.Second); err != nil {
				return fmt.Errorf("containerd on %s: %w; see %s", node, err, filepath.Join(s.nodeDir(node), "logs", "containerd.log"))
			}
			if err := s.importImages(ctx, node, tarballs); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitSocket waits until a unix socket accepts connections.
func waitSocket(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering within %s: %w", path, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NodeIP returns a node's or client's address.
func (s *State) NodeIP(name string) (netip.Addr, bool) {
	if n, ok := s.Plan.Node(name); ok {
		return n.IP, true
	}
	for _, c := range s.Clients {
		if c.Name == name {
			a, err := netip.ParseAddr(c.IP)
			return a, err == nil
		}
	}
	return netip.Addr{}, false
}
