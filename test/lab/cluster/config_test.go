package cluster

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	seed, err := os.ReadFile("../../seed/kind-svc-2w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{
			name: "the seed's config: labels, subnets, gates, extraArgs, kube-proxy patch",
			in:   string(seed),
			check: func(t *testing.T, c *Config) {
				roles := []string{}
				for _, n := range c.Nodes {
					roles = append(roles, n.Role+":"+n.Labels["mynode"]+":"+n.Labels["topology.kubernetes.io/zone"])
				}
				want := []string{
					"control-plane:control-plane:ap-northeast-2a", "worker:worker1:ap-northeast-2a",
					"worker:worker2:ap-northeast-2b", "worker:worker3:ap-northeast-2c",
				}
				if d := cmp.Diff(want, roles); d != "" {
					t.Errorf("nodes (-want +got):\n%s", d)
				}
				if c.PodSubnet != netip.MustParsePrefix("10.10.0.0/16") || c.ServiceSubnet != netip.MustParsePrefix("10.200.1.0/24") {
					t.Errorf("subnets %s %s", c.PodSubnet, c.ServiceSubnet)
				}
				if d := cmp.Diff(map[string]bool{"InPlacePodVerticalScaling": true, "MultiCIDRServiceAllocator": true}, c.FeatureGates); d != "" {
					t.Errorf("featureGates (-want +got):\n%s", d)
				}
				if c.APIServerArgs["runtime-config"] != "api/all=true" || c.ControllerManagerArgs["bind-address"] != "0.0.0.0" ||
					c.SchedulerArgs["bind-address"] != "0.0.0.0" || c.EtcdArgs["listen-metrics-urls"] != "http://0.0.0.0:2381" {
					t.Errorf("extraArgs: apiserver %v kcm %v scheduler %v etcd %v", c.APIServerArgs, c.ControllerManagerArgs, c.SchedulerArgs, c.EtcdArgs)
				}
				if c.KubeProxy["metricsBindAddress"] != "0.0.0.0" {
					t.Errorf("kube-proxy patch: %v", c.KubeProxy)
				}
				if d := cmp.Diff([]string{"nodes[0].extraPortMappings"}, c.Ignored); d != "" {
					t.Errorf("ignored (-want +got):\n%s", d)
				}
				if w := c.Warning(); !strings.Contains(w, "nodes[0].extraPortMappings") || strings.Contains(w, "\n") {
					t.Errorf("warning %q: want one line naming extraPortMappings", w)
				}
			},
		},
		{
			name: "an empty file is the default cluster",
			in:   "",
			check: func(t *testing.T, c *Config) {
				if len(c.Nodes) != 4 || c.Nodes[0].Role != RoleControlPlane || c.Warning() != "" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "no nodes is one control plane, as in kind",
			in:   "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Nodes) != 1 || c.Nodes[0].Role != RoleControlPlane {
					t.Errorf("nodes %+v", c.Nodes)
				}
			},
		},
		{
			name: "kubeadm v1beta4 extraArgs as name/value and runtimeConfig merge",
			in: `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
runtimeConfig:
  "api/alpha": "false"
kubeadmConfigPatches:
- |
  kind: ClusterConfiguration
  apiServer:
    extraArgs:
    - name: runtime-config
      value: api/all=true
    certSANs: [x]
  networking: {dnsDomain: x}
- |
  kind: KubeletConfiguration
  maxPods: 50
- |
  kind: InitConfiguration
`,
			check: func(t *testing.T, c *Config) {
				if got := c.APIServerArgs["runtime-config"]; got != "api/all=true,api/alpha=false" {
					t.Errorf("runtime-config %q", got)
				}
				if c.Kubelet["maxPods"] != float64(50) {
					t.Errorf("kubelet patch %v", c.Kubelet)
				}
				want := []string{
					"kubeadmConfigPatches[0](ClusterConfiguration).apiServer.certSANs",
					"kubeadmConfigPatches[0](ClusterConfiguration).networking",
					"kubeadmConfigPatches[2](InitConfiguration)",
				}
				if d := cmp.Diff(want, c.Ignored); d != "" {
					t.Errorf("ignored (-want +got):\n%s", d)
				}
			},
		},
		{
			name: "unhonoured networking and top-level fields are named",
			in: `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches: ["x"]
networking: {disableDefaultCNI: true, kubeProxyMode: ipvs, apiServerPort: 6443}
nodes: [{role: control-plane, image: kindest/node:v1.30.0, extraMounts: []}]
`,
			check: func(t *testing.T, c *Config) {
				want := []string{
					"containerdConfigPatches", "networking.apiServerPort", "networking.disableDefaultCNI",
					"networking.kubeProxyMode=ipvs", "nodes[0].extraMounts", "nodes[0].image",
				}
				if d := cmp.Diff(want, c.Ignored); d != "" {
					t.Errorf("ignored (-want +got):\n%s", d)
				}
			},
		},
		{name: "wrong apiVersion", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n", wantErr: "apiVersion"},
		{name: "wrong kind", in: "kind: Pod\napiVersion: kind.x-k8s.io/v1alpha4\n", wantErr: "kind is"},
		{name: "two control planes", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: control-plane}, {role: control-plane}]\n", wantErr: "exactly one"},
		{name: "unknown role", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: control-plane}, {role: master}]\n", wantErr: "nodes[1].role"},
		{name: "bad podSubnet", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {podSubnet: 10.10.0.0}\n", wantErr: "networking.podSubnet"},
		{name: "podSubnet too small", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {podSubnet: 10.10.0.0/25}\n", wantErr: "no /24"},
		{name: "subnets overlap", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {podSubnet: 10.0.0.0/8, serviceSubnet: 10.96.0.0/12}\n", wantErr: "overlaps"},
		{name: "IPv6 refused", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: {ipFamily: dual}\n", wantErr: "IPv4 only"},
		{name: "feature gate not a boolean", in: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nfeatureGates: {A: yes-please}\n", wantErr: "featureGates.A"},
		{name: "not YAML", in: "kind: [", wantErr: "kind config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestNewPlan(t *testing.T) {
	seed, err := os.ReadFile("../../seed/kind-svc-2w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(seed)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan("myk8s", c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range p.Nodes {
		got = append(got, n.Name+" "+n.IP.String()+" "+n.PodCIDR.String())
		if len(n.Link) > 15 {
			t.Errorf("link name %q longer than 15 bytes", n.Link)
		}
	}
	want := []string{
		"myk8s-control-plane 172.20.0.2 10.10.0.0/24", "myk8s-worker 172.20.0.3 10.10.1.0/24",
		"myk8s-worker2 172.20.0.4 10.10.2.0/24", "myk8s-worker3 172.20.0.5 10.10.3.0/24",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("nodes (-want +got):\n%s", d)
	}
	if p.APIServer() != "https://172.20.0.2:6443" || p.KubernetesServiceIP().String() != "10.200.1.1" {
		t.Errorf("apiserver %s, kubernetes Service %s", p.APIServer(), p.KubernetesServiceIP())
	}
	if l := p.ClientLink("mypc"); len(l) > 15 || l == p.ClientLink("mypc2") {
		t.Errorf("client links %q %q: want distinct, at most 15 bytes", l, p.ClientLink("mypc2"))
	}
	if o := p.Overlaps(netip.MustParsePrefix("172.20.255.0/24")); len(o) != 1 {
		t.Errorf("overlaps %v", o)
	}
	for _, bad := range []string{"", "My", "a_b", strings.Repeat("a", 21)} {
		if _, err := NewPlan(bad, c); err == nil {
			t.Errorf("NewPlan(%q) accepted", bad)
		}
	}
}
