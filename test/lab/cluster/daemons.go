package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Users of the static token file. Their RBAC bindings come with the
// apiserver's bootstrap policy (system:kube-proxy → system:node-proxier,
// ...); nodes are authorised by the Node authorizer by name and group.
func tokenUsers(p *Plan) []tokenUser {
	users := []tokenUser{
		{"kubernetes-admin", "system:masters"},
		{"system:kube-controller-manager", ""},
		{"system:kube-scheduler", ""},
		{"system:kube-proxy", ""},
	}
	for _, n := range p.Nodes {
		users = append(users, tokenUser{"system:node:" + n.Name, "system:nodes"})
	}
	return users
}

// controlPlaneDaemons are etcd, kube-apiserver, kube-controller-manager
// and kube-scheduler, with the config's extraArgs over the lab's flags.
func (s *State) controlPlaneDaemons(cfg *Config, bin string) []Daemon {
	cp, pki := s.Plan.ControlPlane(), filepath.Join(s.Dir, "pki")
	etcd := flags(map[string]string{
		"name":                        cp.Name,
		"data-dir":                    filepath.Join(s.nodeDir(cp.Name), "etcd"),
		"listen-client-urls":          "http://127.0.0.1:2379",
		"advertise-client-urls":       "http://127.0.0.1:2379",
		"listen-peer-urls":            "http://127.0.0.1:2380",
		"initial-advertise-peer-urls": "http://127.0.0.1:2380",
		"initial-cluster":             cp.Name + "=http://127.0.0.1:2380",
		"log-level":                   "warn",
	}, cfg.EtcdArgs)
	gates := featureGateFlag(cfg.FeatureGates)
	api := map[string]string{
		"etcd-servers":                     "http://127.0.0.1:2379",
		"bind-address":                     "0.0.0.0",
		"advertise-address":                cp.IP.String(),
		"secure-port":                      strconv.Itoa(apiServerPort),
		"tls-cert-file":                    filepath.Join(pki, "apiserver.crt"),
		"tls-private-key-file":             filepath.Join(pki, "apiserver.key"),
		"client-ca-file":                   filepath.Join(pki, "ca.crt"),
		"kubelet-client-certificate":       filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"kubelet-client-key":               filepath.Join(pki, "apiserver-kubelet-client.key"),
		"kubelet-preferred-address-types":  "InternalIP",
		"token-auth-file":                  filepath.Join(pki, "tokens.csv"),
		"authorization-mode":               "Node,RBAC",
		"enable-admission-plugins":         "NodeRestriction",
		"service-account-key-file":         filepath.Join(pki, "sa.pub"),
		"service-account-signing-key-file": filepath.Join(pki, "sa.key"),
		"service-account-issuer":           "https://kubernetes.default.svc.cluster.local",
		"service-cluster-ip-range":         s.Plan.ServiceSubnet.String(),
		"allow-privileged":                 "true",
		"profiling":                        "false",
	}
	kcm := map[string]string{
		"kubeconfig":                       filepath.Join(s.Dir, "controller-manager.conf"),
		"leader-elect":                     "false",
		"service-account-private-key-file": filepath.Join(pki, "sa.key"),
		"root-ca-file":                     filepath.Join(pki, "ca.crt"),
		"use-service-account-credentials":  "true",
		// Pod CIDRs are the lab's, set on each Node at registration, as
		// the CNI configuration already uses them.
		"allocate-node-cidrs":      "false",
		"cluster-cidr":             s.Plan.PodSubnet.String(),
		"service-cluster-ip-range": s.Plan.ServiceSubnet.String(),
		"profiling":                "false",
	}
	sched := map[string]string{
		"kubeconfig":   filepath.Join(s.Dir, "scheduler.conf"),
		"leader-elect": "false",
		"profiling":    "false",
	}
	if gates != "" {
		api["feature-gates"], kcm["feature-gates"], sched["feature-gates"] = gates, gates, gates
	}
	return []Daemon{
		{Name: "etcd", Args: append([]string{etcdPath(bin)}, etcd...)},
		{Name: "kube-apiserver", Args: append([]string{filepath.Join(bin, "kube-apiserver")}, flags(api, cfg.APIServerArgs)...)},
		{Name: "kube-controller-manager", Args: append([]string{filepath.Join(bin, "kube-controller-manager")}, flags(kcm, cfg.ControllerManagerArgs)...)},
		{Name: "kube-scheduler", Args: append([]string{filepath.Join(bin, "kube-scheduler")}, flags(sched, cfg.SchedulerArgs)...)},
	}
}

func etcdPath(bin string) string {
	if _, err := os.Stat(filepath.Join(bin, "etcd")); err == nil {
		return filepath.Join(bin, "etcd")
	}
	return "etcd"
}

// nodeDaemons are containerd, kubelet and kube-proxy of one node.
func (s *State) nodeDaemons(n NodePlan, bin string) []Daemon {
	dir := s.nodeDir(n.Name)
	var labels []string
	for _, k := range sortedKeys(n.Labels) {
		labels = append(labels, k+"="+n.Labels[k])
	}
	kubelet := []string{filepath.Join(bin, "kubelet"),
		"--config=" + filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig=" + filepath.Join(dir, "kubelet.conf"),
		// The kubelet makes unix sockets in its root dir (pod-resources,
		// plugins): it must be under the short run directory.
		"--root-dir=" + filepath.Join(s.nodeRun(n.Name), "kubelet"),
		"--hostname-override=" + n.Name,
		"--node-ip=" + n.IP.String(),
	}
	if len(labels) > 0 {
		kubelet = append(kubelet, "--node-labels="+strings.Join(labels, ","))
	}
	return []Daemon{
		{Name: "containerd", Args: []string{"containerd", "--config", filepath.Join(dir, "containerd.toml")}},
		{Name: "kubelet", Args: kubelet},
		{Name: "kube-proxy", Args: []string{filepath.Join(bin, "kube-proxy"), "--config=" + filepath.Join(dir, "kube-proxy.yaml")}},
	}
}

// launchScript joins the node's cgroup in every hierarchy, records its
// PID, then becomes the daemon inside the node's network namespace only:
// `ip netns exec` would also make a private mount namespace, hiding the
// kubelet's mounts from containerd and the cgroup mounts from runc.
const launchScript = `exec </dev/null >>"$IRONLAB_LOG" 2>&1
for f in $IRONLAB_PROCS; do echo $$ >"$f" || exit 1; done
echo $$ >"$IRONLAB_PID"
exec nsenter --net="$IRONLAB_NETNS" -- "$@"
`

// daemonPath has the sbin directories runc, iptables and mount live in.
const daemonPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// launch starts d in the node's namespace and cgroup, detached: its own
// session, output to a log file, parent init (setsid --fork), so it
// outlives the process that started it and is never left a zombie of it.
func (s *State) launch(node string, d Daemon) error {
	return s.launchIn(node, NetnsPath(node), d)
}

// Launch starts an add-on daemon (a lab Prometheus, say) in the node's
// namespace and cgroup, as the node's own daemons are started: it goes
// when the node is stopped or the cluster deleted. `node start` does not
// start it again.
func (s *State) Launch(node string, d Daemon) error {
	if _, ok := s.Plan.Node(node); !ok {
		return fmt.Errorf("cluster %s has no node %q", s.Plan.Name, node)
	}
	return s.launch(node, d)
}

// StopDaemon ends a daemon Launch started: SIGTERM, then SIGKILL after
// grace.
func (s *State) StopDaemon(node, daemon string, grace time.Duration) error {
	b, err := os.ReadFile(filepath.Join(s.nodeRun(node), daemon+".pid"))
	if err != nil {
		return fmt.Errorf("stopping %s on %s: %w", daemon, node, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("stopping %s on %s: bad PID file: %q", daemon, node, b)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stopping %s on %s: %w", daemon, node, err)
	}
	deadline := time.Now().Add(grace)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// KillDaemon SIGKILLs one of a node's daemons (its own, such as
// kube-apiserver, or one Launch started) and waits until it is gone.
func (s *State) KillDaemon(node, daemon string) error {
	b, err := os.ReadFile(filepath.Join(s.nodeRun(node), daemon+".pid"))
	if err != nil {
		return fmt.Errorf("killing %s on %s: %w", daemon, node, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("killing %s on %s: bad PID file: %q", daemon, node, b)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s on %s: %w", daemon, node, err)
	}
	deadline := time.Now().Add(killTimeout)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("killing %s on %s: PID %d still there after %s", daemon, node, pid, killTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// StartDaemon starts one of a node's own daemons again (after KillDaemon
// or StopDaemon), as the node's start does.
func (s *State) StartDaemon(node, daemon string) error {
	if !slices.ContainsFunc(s.Daemons[node], func(d Daemon) bool { return d.Name == daemon }) {
		return fmt.Errorf("node %s has no daemon %q", node, daemon)
	}
	return s.startNode(context.Background(), node, func(d string) bool { return d == daemon }, nil)
}

// LogFile is where a daemon launched on the node writes its output.
func (s *State) LogFile(node, daemon string) string {
	return filepath.Join(s.nodeDir(node), "logs", daemon+".log")
}

// CAFile is the cluster CA's certificate, which signs the apiserver's.
func (s *State) CAFile() string { return filepath.Join(s.Dir, "pki", "ca.crt") }

// launchIn is launch with another network namespace (the registry runs in
// the host's, in a cgroup of the lab's).
func (s *State) launchIn(node, netns string, d Daemon) error {
	logs := filepath.Join(s.nodeDir(node), "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	pidFile := filepath.Join(s.nodeRun(node), d.Name+".pid")
	_ = os.Remove(pidFile)
	cmd := exec.Command("setsid", append([]string{"--fork", "sh", "-c", launchScript, "sh"}, d.Args...)...)
	home, _ := os.UserHomeDir()
	// A clean environment: nothing of the caller's (KUBECONFIG, proxies)
	// reaches the daemons.
	cmd.Env = append([]string{
		"PATH=" + daemonPath, "HOME=" + home,
		"IRONLAB_LOG=" + filepath.Join(logs, d.Name+".log"),
		"IRONLAB_PROCS=" + strings.Join(s.Cgroups.ProcsFiles(filepath.Join(s.cgroupRel(node), "system")), " "),
		"IRONLAB_PID=" + pidFile,
		"IRONLAB_NETNS=" + netns,
	}, d.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("starting %s on %s: %w: %s", d.Name, node, err, out)
	}
	// The script writes the PID only once it is in the node's cgroup.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid > 0 && syscall.Kill(pid, 0) == nil {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("starting %s on %s: not running after 5s; see %s", d.Name, node, filepath.Join(logs, d.Name+".log"))
}
