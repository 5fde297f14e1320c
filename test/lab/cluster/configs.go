package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// sandboxImage is the pause image every node's containerd starts pods
// with; the lab builds it from source (no registry is reachable).
const sandboxImage = "registry.k8s.io/pause:3.10"

// mirroredRegistries are the registries whose pulls go to the lab's own
// registry on the gateway, so images named as in public manifests resolve
// and nothing is fetched from outside.
var mirroredRegistries = []string{"docker.io", "registry.k8s.io", "quay.io", "ghcr.io"}

// containerdConfig is one node's containerd: its own root, state, sockets,
// runc root and CNI directory, so that nodes never see each other's
// containers. restrict_oom_score_adj: runc cannot set the pause
// container's negative oom_score_adj without CAP_SYS_RESOURCE, which these
// machines withhold. netns_mounts_under_state_dir keeps pod network
// namespaces under the node's own state, where delete finds them.
func (s *State) containerdConfig(node string) string {
	dir, run := s.nodeDir(node), s.nodeRun(node)
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[8]q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[9]q
`, filepath.Join(dir, "containerd"), filepath.Join(run, "containerd"), s.ContainerdSocket(node),
		s.ContainerdSocket(node)+".ttrpc", filepath.Join(dir, "opt"), sandboxImage,
		filepath.Join(run, "runc"), filepath.Join(dir, "cni"), filepath.Join(dir, "certs.d"))
}

// registryHosts points every mirrored registry at the lab's registry as
// the server itself: as a mere mirror, containerd would fall back to the
// public registry.
func (s *State) registryHosts(node string) map[string]string {
	if s.Registry == "" {
		return nil
	}
	out := map[string]string{}
	for _, r := range mirroredRegistries {
		out[filepath.Join(s.nodeDir(node), "certs.d", r, "hosts.toml")] = fmt.Sprintf(
			"server = \"http://%[1]s\"\n\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", s.Registry)
	}
	return out
}

// cniConfig is kindnet's job done statically: a bridge with the node's
// pod /24; the routes to other nodes' pods are in the node namespace. No
// masquerading: pods see each other's and clients' real addresses, and
// nothing leaves the machine anyway.
func (s *State) cniConfig(n NodePlan) string {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "ironlab",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": filepath.Join(s.nodeDir(n.Name), "cni-ipam"),
					"ranges":  [][]map[string]string{{{"subnet": n.PodCIDR.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return string(b)
}

// kubeletConfig follows local-cluster.md: cgroup v1 allowed, cgroupfs
// under the node's own subtree, per-node pod logs, no disk-pressure
// eviction (all nodes share one disk), the lab's resolv.conf.
func (s *State) kubeletConfig(n NodePlan, cfg *Config) (string, error) {
	dir := s.nodeDir(n.Name)
	c := map[string]any{
		"apiVersion":                  "kubelet.config.k8s.io/v1beta1",
		"kind":                        "KubeletConfiguration",
		"failCgroupV1":                false,
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  s.Cgroups.Path(s.cgroupRel(n.Name)),
		"containerRuntimeEndpoint":    "unix://" + s.ContainerdSocket(n.Name),
		"podLogsDir":                  filepath.Join(dir, "pod-logs"),
		"failSwapOn":                  false,
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard":                map[string]string{"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
		"resolvConf":                  filepath.Join(s.Dir, "resolv.conf"),
		"clusterDomain":               "cluster.local",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": filepath.Join(s.Dir, "pki", "ca.crt")},
		},
		"authorization":       map[string]any{"mode": "Webhook"},
		"healthzBindAddress":  "127.0.0.1",
		"readOnlyPort":        0,
		"serializeImagePulls": false,
		"featureGates":        cfg.FeatureGates,
	}
	if n.Role == RoleControlPlane {
		c["registerWithTaints"] = []map[string]string{{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}}
	}
	deepMerge(c, cfg.Kubelet)
	b, err := yaml.Marshal(c)
	return string(b), err
}

// kubeProxyConfig: iptables mode; conntrack sysctls left alone, since
// nf_conntrack_max is read-only outside the initial namespace.
func (s *State) kubeProxyConfig(n NodePlan, cfg *Config) (string, error) {
	c := map[string]any{
		"apiVersion":       "kubeproxy.config.k8s.io/v1alpha1",
		"kind":             "KubeProxyConfiguration",
		"clientConnection": map[string]any{"kubeconfig": filepath.Join(s.Dir, "kube-proxy.conf")},
		"hostnameOverride": n.Name,
		"mode":             "iptables",
		"clusterCIDR":      s.Plan.PodSubnet.String(),
		"conntrack": map[string]any{
			"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
		},
		"nodePortAddresses": []string{n.IP.String() + "/32"},
		"featureGates":      cfg.FeatureGates,
	}
	deepMerge(c, cfg.KubeProxy)
	b, err := yaml.Marshal(c)
	return string(b), err
}

// writeKubeconfig writes a kubeconfig for one token user, its cluster,
// user and context all called name.
func writeKubeconfig(path, name, server string, ca []byte, token string) error {
	return clientcmd.WriteToFile(*kubeconfig(name, server, ca, token), path)
}

func kubeconfig(name, server string, ca []byte, token string) *clientcmdapi.Config {
	c := clientcmdapi.NewConfig()
	c.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	c.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	c.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	c.CurrentContext = name
	return c
}

// writeFiles writes path → content, creating directories.
func writeFiles(files map[string]string) error {
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// flags turns name → value into --name=value, in a stable order, with the
// config's extraArgs over the lab's defaults.
func flags(defaults, extra map[string]string) []string {
	m := map[string]string{}
	for k, v := range defaults {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	keys := sortedKeys(m)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, "--"+k+"="+m[k])
	}
	return out
}

func featureGateFlag(g map[string]bool) string {
	var parts []string
	for _, k := range sortedKeys(g) {
		parts = append(parts, fmt.Sprintf("%s=%t", k, g[k]))
	}
	return strings.Join(parts, ",")
}
