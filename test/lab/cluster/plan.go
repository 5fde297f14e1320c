package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
)

// The lab network is kind's docker network `kind` of the seed: the host
// holds the gateway on a bridge, nodes count up from .2. It is never
// routed off the machine: node namespaces have no default route.
var (
	labNetwork = netip.MustParsePrefix("172.20.0.0/16")
	labGateway = netip.MustParseAddr("172.20.0.1")
)

// Plan is every name and address of a cluster, derived from its name and
// config alone, so that create, delete and the CLI agree without talking.
type Plan struct {
	Name          string
	Network       netip.Prefix
	Gateway       netip.Addr
	Bridge        string // the host's bridge; link names are at most 15 bytes
	PodSubnet     netip.Prefix
	ServiceSubnet netip.Prefix
	Nodes         []NodePlan
}

// NodePlan is one node: its name is also its network namespace's name, as
// a kind node's name is its container's.
type NodePlan struct {
	Name    string
	Role    string
	IP      netip.Addr
	PodCIDR netip.Prefix
	Labels  map[string]string
	Link    string // host end of the node's veth; eth0 inside
}

// NewPlan names and addresses the nodes as kind does: NAME-control-plane,
// NAME-worker, NAME-worker2, ...; the control plane gets the first node
// address and the first pod /24.
func NewPlan(name string, c *Config) (*Plan, error) {
	if name == "" || len(name) > maxNameLen {
		return nil, fmt.Errorf("cluster name %q: want 1 to %d characters", name, maxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return nil, fmt.Errorf("cluster name %q: only lower-case letters, digits and '-'", name)
		}
	}
	for _, r := range []netip.Prefix{c.PodSubnet, c.ServiceSubnet} {
		if r.Overlaps(labNetwork) {
			return nil, fmt.Errorf("%s overlaps the lab network %s, where the nodes are", r, labNetwork)
		}
	}
	id := linkID(name)
	p := &Plan{
		Name: name, Network: labNetwork, Gateway: labGateway, Bridge: "ilab" + id,
		PodSubnet: c.PodSubnet, ServiceSubnet: c.ServiceSubnet,
	}
	// The control plane first, whatever its place in the file.
	ordered := make([]NodeConfig, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		if n.Role == RoleControlPlane {
			ordered = append(ordered, n)
		}
	}
	for _, n := range c.Nodes {
		if n.Role != RoleControlPlane {
			ordered = append(ordered, n)
		}
	}
	if len(ordered) > 250 {
		return nil, fmt.Errorf("%d nodes: the lab numbers nodes in one /24 of %s", len(ordered), labNetwork)
	}
	workers := 0
	for i, n := range ordered {
		np := NodePlan{Role: n.Role, Labels: n.Labels, Link: fmt.Sprintf("ilab%sn%d", id, i)}
		if n.Role == RoleControlPlane {
			np.Name = name + "-control-plane"
		} else {
			workers++
			np.Name = name + "-worker"
			if workers > 1 {
				np.Name += strconv.Itoa(workers)
			}
		}
		np.IP = nthAddr(labNetwork.Addr(), 2+i)
		np.PodCIDR = netip.PrefixFrom(nthAddr(c.PodSubnet.Addr(), i<<8), 24)
		p.Nodes = append(p.Nodes, np)
	}
	return p, nil
}

// ControlPlane is the node running etcd and the control plane.
func (p *Plan) ControlPlane() NodePlan { return p.Nodes[0] }

// Node finds a node by name.
func (p *Plan) Node(name string) (NodePlan, bool) {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodePlan{}, false
}

// APIServer is the URL every client of the cluster uses.
func (p *Plan) APIServer() string {
	return "https://" + netip.AddrPortFrom(p.ControlPlane().IP, apiServerPort).String()
}

// KubernetesServiceIP is the first address of the Service range: the
// `kubernetes` Service, which the apiserver's certificate must name.
func (p *Plan) KubernetesServiceIP() netip.Addr { return p.ServiceSubnet.Addr().Next() }

// ClientLink is the host end of a client namespace's veth.
func (p *Plan) ClientLink(client string) string {
	return "ilab" + linkID(p.Name) + "c" + linkID(client)[:4]
}

// Overlaps reports which of the lab's ranges overlap pfx.
func (p *Plan) Overlaps(pfx netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range []netip.Prefix{p.Network, p.PodSubnet, p.ServiceSubnet} {
		if r.Overlaps(pfx) {
			out = append(out, r)
		}
	}
	return out
}

const apiServerPort = 6443

// maxNameLen keeps the kubelet's deepest unix socket,
// /run/ironlab/NAME/NAME-control-plane/kubelet/pod-resources/NNNNNNNNNN,
// within the kernel's 108 bytes.
const maxNameLen = 20

// linkID is a short stable hash of a name, for link names that must fit
// in 15 bytes whatever the cluster is called.
func linkID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])[:6]
}

func nthAddr(a netip.Addr, n int) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
