package cluster

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The kind API this lab reads. Only v1alpha4 exists in kind today.
const (
	kindAPIVersion = "kind.x-k8s.io/v1alpha4"
	kindKind       = "Cluster"
)

// Roles of a kind node.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// Config is what the lab takes from a kind Cluster config: everything it
// honours, plus the dotted paths of everything it read and cannot honour.
type Config struct {
	// Name comes from the config's name field; the CLI's --name wins.
	Name  string
	Nodes []NodeConfig
	// PodSubnet is split into one /24 per node; ServiceSubnet is the
	// apiserver's --service-cluster-ip-range.
	PodSubnet, ServiceSubnet netip.Prefix
	FeatureGates             map[string]bool
	// Extra flags per component, from kubeadmConfigPatches'
	// ClusterConfiguration (and runtimeConfig for the apiserver).
	APIServerArgs, ControllerManagerArgs, SchedulerArgs, EtcdArgs map[string]string
	// KubeProxy and Kubelet are merged over the lab's own configuration
	// files, as kubeadm merges KubeProxyConfiguration and
	// KubeletConfiguration patches.
	KubeProxy, Kubelet map[string]any
	// Ignored lists, in order, every field the lab read and cannot honour.
	Ignored []string
}

// NodeConfig is one node of the config.
type NodeConfig struct {
	Role   string
	Labels map[string]string
}

// DefaultConfig is the cluster without a config file: one control plane
// and three workers on the seed's subnets.
func DefaultConfig() *Config {
	c := emptyConfig()
	c.Nodes = []NodeConfig{{Role: RoleControlPlane}, {Role: RoleWorker}, {Role: RoleWorker}, {Role: RoleWorker}}
	return c
}

func emptyConfig() *Config {
	return &Config{
		PodSubnet:             netip.MustParsePrefix("10.10.0.0/16"),
		ServiceSubnet:         netip.MustParsePrefix("10.200.1.0/24"),
		FeatureGates:          map[string]bool{},
		APIServerArgs:         map[string]string{},
		ControllerManagerArgs: map[string]string{},
		SchedulerArgs:         map[string]string{},
		EtcdArgs:              map[string]string{},
		KubeProxy:             map[string]any{},
		Kubelet:               map[string]any{},
	}
}

// Warning is the one line naming what the config asks for and the lab
// ignores, or "" when everything is honoured.
func (c *Config) Warning() string {
	if len(c.Ignored) == 0 {
		return ""
	}
	return "ignoring what the lab cannot honour: " + strings.Join(c.Ignored, ", ")
}

// ParseConfig reads a kind.x-k8s.io/v1alpha4 Cluster config.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("kind config: %w", err)
	}
	if raw == nil {
		return DefaultConfig(), nil
	}
	if k, _ := raw["kind"].(string); k != kindKind {
		return nil, fmt.Errorf("kind config: kind is %q, want %q", raw["kind"], kindKind)
	}
	if v, _ := raw["apiVersion"].(string); v != kindAPIVersion {
		return nil, fmt.Errorf("kind config: apiVersion is %q, want %q", raw["apiVersion"], kindAPIVersion)
	}
	c := emptyConfig()
	p := &parser{c: c}
	for _, key := range sortedKeys(raw) {
		v := raw[key]
		switch key {
		case "kind", "apiVersion":
		case "name":
			c.Name, _ = v.(string)
		case "featureGates":
			p.featureGates(v)
		case "runtimeConfig":
			for k, val := range asMap(v) {
				p.addArg(c.APIServerArgs, "runtime-config", k+"="+fmt.Sprint(val))
			}
		case "networking":
			p.networking(v)
		case "nodes":
			for i, n := range asSlice(v) {
				p.node(i, n)
			}
		case "kubeadmConfigPatches":
			p.patches("kubeadmConfigPatches", v)
		default:
			p.ignore(key)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	if len(c.Nodes) == 0 {
		c.Nodes = []NodeConfig{{Role: RoleControlPlane}}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) validate() error {
	cp := 0
	for i, n := range c.Nodes {
		switch n.Role {
		case RoleControlPlane:
			cp++
		case RoleWorker:
		default:
			return fmt.Errorf("kind config: nodes[%d].role %q: want %s or %s", i, n.Role, RoleControlPlane, RoleWorker)
		}
	}
	if cp != 1 {
		return fmt.Errorf("kind config: %d control-plane nodes; the lab runs exactly one", cp)
	}
	if !c.PodSubnet.Addr().Is4() || !c.ServiceSubnet.Addr().Is4() {
		return fmt.Errorf("kind config: the lab is IPv4 only (podSubnet %s, serviceSubnet %s)", c.PodSubnet, c.ServiceSubnet)
	}
	// One /24 of pods per node.
	if c.PodSubnet.Bits() > 24 || len(c.Nodes) > 1<<(24-c.PodSubnet.Bits()) {
		return fmt.Errorf("kind config: podSubnet %s has no /24 for each of %d nodes", c.PodSubnet, len(c.Nodes))
	}
	if c.PodSubnet.Overlaps(c.ServiceSubnet) {
		return fmt.Errorf("kind config: podSubnet %s overlaps serviceSubnet %s", c.PodSubnet, c.ServiceSubnet)
	}
	return nil
}

// parser keeps the first error and the ignored paths while walking the
// document, so each case stays one line.
type parser struct {
	c   *Config
	err error
}

func (p *parser) ignore(path string) { p.c.Ignored = append(p.c.Ignored, path) }

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("kind config: "+format, args...)
	}
}

func (p *parser) featureGates(v any) {
	for k, val := range asMap(v) {
		b, ok := val.(bool)
		if !ok {
			p.fail("featureGates.%s: %v is not a boolean", k, val)
			continue
		}
		p.c.FeatureGates[k] = b
	}
}

func (p *parser) networking(v any) {
	m := asMap(v)
	for _, key := range sortedKeys(m) {
		val := m[key]
		switch key {
		case "podSubnet", "serviceSubnet":
			s, _ := val.(string)
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				p.fail("networking.%s: %v", key, err)
				continue
			}
			if key == "podSubnet" {
				p.c.PodSubnet = pfx.Masked()
			} else {
				p.c.ServiceSubnet = pfx.Masked()
			}
		case "kubeProxyMode":
			if val != "iptables" {
				p.ignore("networking.kubeProxyMode=" + fmt.Sprint(val))
			}
		case "ipFamily":
			if val != "ipv4" {
				p.fail("networking.ipFamily %v: the lab is IPv4 only", val)
			}
		default:
			p.ignore("networking." + key)
		}
	}
}

func (p *parser) node(i int, v any) {
	m := asMap(v)
	n := NodeConfig{Labels: map[string]string{}}
	for _, key := range sortedKeys(m) {
		val := m[key]
		switch key {
		case "role":
			n.Role, _ = val.(string)
		case "labels":
			for k, l := range asMap(val) {
				n.Labels[k] = fmt.Sprint(l)
			}
		case "kubeadmConfigPatches":
			p.patches(fmt.Sprintf("nodes[%d].kubeadmConfigPatches", i), val)
		default:
			p.ignore(fmt.Sprintf("nodes[%d].%s", i, key))
		}
	}
	p.c.Nodes = append(p.c.Nodes, n)
}

// patches reads kubeadm documents. kind applies ClusterConfiguration
// patches to the control plane and KubeProxyConfiguration cluster-wide,
// wherever they are written; so does the lab.
func (p *parser) patches(path string, v any) {
	for i, doc := range asSlice(v) {
		s, _ := doc.(string)
		var m map[string]any
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			p.fail("%s[%d]: %v", path, i, err)
			continue
		}
		kind, _ := m["kind"].(string)
		at := fmt.Sprintf("%s[%d](%s)", path, i, kind)
		delete(m, "kind")
		delete(m, "apiVersion")
		switch kind {
		case "ClusterConfiguration":
			p.clusterConfiguration(at, m)
		case "KubeProxyConfiguration":
			deepMerge(p.c.KubeProxy, m)
		case "KubeletConfiguration":
			deepMerge(p.c.Kubelet, m)
		default:
			p.ignore(at)
		}
	}
}

func (p *parser) clusterConfiguration(at string, m map[string]any) {
	for _, key := range sortedKeys(m) {
		val := asMap(m[key])
		switch key {
		case "apiServer":
			p.extraArgs(at+".apiServer", val, p.c.APIServerArgs)
		case "controllerManager":
			p.extraArgs(at+".controllerManager", val, p.c.ControllerManagerArgs)
		case "scheduler":
			p.extraArgs(at+".scheduler", val, p.c.SchedulerArgs)
		case "etcd":
			local := asMap(val["local"])
			p.extraArgs(at+".etcd.local", local, p.c.EtcdArgs)
			for _, k := range sortedKeys(val) {
				if k != "local" {
					p.ignore(at + ".etcd." + k)
				}
			}
		default:
			p.ignore(at + "." + key)
		}
	}
}

// extraArgs takes kubeadm's extraArgs in both shapes: a map (v1beta3) and
// a list of name/value pairs (v1beta4).
func (p *parser) extraArgs(at string, m map[string]any, into map[string]string) {
	for _, key := range sortedKeys(m) {
		if key != "extraArgs" {
			p.ignore(at + "." + key)
			continue
		}
		switch args := m[key].(type) {
		case map[string]any:
			for k, v := range args {
				p.addArg(into, k, fmt.Sprint(v))
			}
		case []any:
			for _, a := range args {
				kv := asMap(a)
				name, _ := kv["name"].(string)
				if name == "" {
					p.fail("%s.extraArgs: an entry without a name", at)
					continue
				}
				p.addArg(into, name, fmt.Sprint(kv["value"]))
			}
		default:
			p.fail("%s.extraArgs: want a map or a list of name/value", at)
		}
	}
}

// addArg joins repeated runtime-config values the way the flag expects
// them; any other repeated flag keeps the last value.
func (p *parser) addArg(into map[string]string, k, v string) {
	if old, ok := into[k]; ok && k == "runtime-config" && old != v {
		parts := append(strings.Split(old, ","), v)
		slices.Sort(parts)
		into[k] = strings.Join(slices.Compact(parts), ",")
		return
	}
	into[k] = v
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// sortedKeys keeps the ignored list, errors and flags in a stable order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
