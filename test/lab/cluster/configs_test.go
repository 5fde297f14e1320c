package cluster

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// seedState is the state of the seed's cluster as create would write it,
// on a v1 machine nested like these ones.
func seedState(t *testing.T) (*State, *Config) {
	t.Helper()
	seed, err := os.ReadFile("../../seed/kind-svc-2w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(seed)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan("myk8s", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &State{
		Plan: plan, Dir: "/state/myk8s", RunDir: "/run/ironlab/myk8s",
		Cgroups:  &Cgroups{Mounts: []string{"/sys/fs/cgroup/memory"}, Parent: "/process_api/x"},
		Registry: "172.20.0.1:5000",
	}, cfg
}

func TestControlPlaneFlags(t *testing.T) {
	s, cfg := seedState(t)
	args := map[string][]string{}
	for _, d := range s.controlPlaneDaemons(cfg, "/bin") {
		args[d.Name] = d.Args
	}
	tests := []struct{ daemon, flag string }{
		{"kube-apiserver", "--authorization-mode=Node,RBAC"},
		{"kube-apiserver", "--service-cluster-ip-range=10.200.1.0/24"},
		{"kube-apiserver", "--advertise-address=172.20.0.2"},
		{"kube-apiserver", "--runtime-config=api/all=true"},
		{"kube-apiserver", "--feature-gates=InPlacePodVerticalScaling=true,MultiCIDRServiceAllocator=true"},
		{"kube-controller-manager", "--bind-address=0.0.0.0"},
		{"kube-controller-manager", "--cluster-cidr=10.10.0.0/16"},
		{"kube-scheduler", "--bind-address=0.0.0.0"},
		{"etcd", "--listen-metrics-urls=http://0.0.0.0:2381"},
	}
	for _, tc := range tests {
		if !slices.Contains(args[tc.daemon], tc.flag) {
			t.Errorf("%s: no %s in %v", tc.daemon, tc.flag, args[tc.daemon])
		}
	}
}

func TestNodeConfigs(t *testing.T) {
	s, cfg := seedState(t)
	cp, worker := s.Plan.Nodes[0], s.Plan.Nodes[1]

	var kubelet map[string]any
	k, err := s.kubeletConfig(cp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(k), &kubelet); err != nil {
		t.Fatal(err)
	}
	if kubelet["failCgroupV1"] != false || kubelet["cgroupRoot"] != "/process_api/x/ironlab-myk8s/myk8s-control-plane" ||
		!strings.Contains(k, "node-role.kubernetes.io/control-plane") {
		t.Errorf("control-plane kubelet config:\n%s", k)
	}

	var proxy map[string]any
	p, err := s.kubeProxyConfig(worker, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(p), &proxy); err != nil {
		t.Fatal(err)
	}
	// The seed's KubeProxyConfiguration patch wins over the lab's defaults.
	if proxy["metricsBindAddress"] != "0.0.0.0" || proxy["mode"] != "iptables" || proxy["hostnameOverride"] != "myk8s-worker" {
		t.Errorf("worker kube-proxy config:\n%s", p)
	}

	var cni struct {
		Plugins []struct {
			Type string
			IPAM struct{ Ranges [][]struct{ Subnet string } }
		}
	}
	if err := json.Unmarshal([]byte(s.cniConfig(worker)), &cni); err != nil {
		t.Fatal(err)
	}
	if got := cni.Plugins[0].IPAM.Ranges[0][0].Subnet; got != "10.10.1.0/24" {
		t.Errorf("worker pod subnet %s, want 10.10.1.0/24", got)
	}

	hosts := s.registryHosts(worker.Name)
	if len(hosts) != 4 || !strings.Contains(hosts["/state/myk8s/nodes/myk8s-worker/certs.d/docker.io/hosts.toml"], `server = "http://172.20.0.1:5000"`) {
		t.Errorf("registry hosts: %v", hosts)
	}
	c := s.containerdConfig(worker.Name)
	for _, want := range []string{"restrict_oom_score_adj = true", "SystemdCgroup = false", `sandbox_image = "registry.k8s.io/pause:3.10"`} {
		if !strings.Contains(c, want) {
			t.Errorf("containerd config lacks %s", want)
		}
	}
}

func TestNewPlanRefusesSubnetsOnTheLabNetwork(t *testing.T) {
	c := DefaultConfig()
	c.PodSubnet = labNetwork
	if _, err := NewPlan("x", c); err == nil {
		t.Error("pod subnet on the lab network accepted")
	}
}
