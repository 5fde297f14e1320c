// Package agent is the speaker's single state owner: it turns the
// cluster's state (configuration, Services, endpoints, nodes) and the live
// members into who announces what over layer 2, and which sessions and
// paths this node keeps over BGP (BGP, in bgp.go). It holds no client and no socket: adapters feed
// it plain values and apply what it returns.
//
// Membership changes are the failover path: Leave looks only at the
// Services the dead member owned (speaker/election), so a takeover costs
// what moves, never a walk over every Service.
package agent

import (
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/election"
)

// Node is a node as announcing needs it.
type Node struct {
	Name   string
	Labels map[string]string
	// Excluded nodes never announce: labelled
	// node.kubernetes.io/exclude-from-external-load-balancers, or with the
	// NetworkUnavailable condition.
	Excluded bool
}

// Service is a LoadBalancer Service with IPs, as announcing needs it.
type Service struct {
	Key    string
	Labels map[string]string
	IPs    []netip.Addr
	// Local is externalTrafficPolicy: Local.
	Local bool
	// ReadyNodes are the nodes holding a ready endpoint of the Service.
	ReadyNodes []string
}

// Announcement is one VIP this node answers for, on which interfaces; an
// empty Interfaces means every usable interface of the node.
type Announcement struct {
	Service    string
	IP         netip.Addr
	Interfaces []string
}

// Agent decides for one node. Not safe for concurrent use: one goroutine
// owns it.
type Agent struct {
	me       string
	cfg      *config.Config
	nodes    map[string]Node
	services map[string]Service
	plan     *election.Plan
}

// New returns an agent for the named node with the given live members.
func New(me string, alive []string) *Agent {
	return &Agent{me: me, nodes: map[string]Node{}, services: map[string]Service{}, plan: election.NewPlan(alive)}
}

// ServiceIPs returns the Service's IPs as last set.
func (a *Agent) ServiceIPs(key string) []netip.Addr { return a.services[key].IPs }

// Owner returns the node announcing the Service, "" if none.
func (a *Agent) Owner(service string) string { return a.plan.Owner(service) }

// Predecessors returns the members this node would take a Service over
// from if they died now, sorted.
func (a *Agent) Predecessors() []string { return a.plan.Predecessors(a.me) }

// Eligible reports whether this node may announce the Service: its
// advertisements select this node and, for externalTrafficPolicy Local, it
// holds a ready endpoint.
func (a *Agent) Eligible(service string) bool { return a.plan.Candidate(service, a.me) }

// SetConfig replaces the configuration and re-elects every Service.
func (a *Agent) SetConfig(cfg *config.Config) {
	a.cfg = cfg
	a.reelectAll()
}

// SetNode adds or updates a node and re-elects every Service, since its
// labels may change which advertisements select it.
func (a *Agent) SetNode(n Node) {
	if old, ok := a.nodes[n.Name]; ok && old.Excluded == n.Excluded && labels.Equals(old.Labels, n.Labels) {
		return
	}
	a.nodes[n.Name] = n
	a.reelectAll()
}

// RemoveNode forgets a node.
func (a *Agent) RemoveNode(name string) {
	if _, ok := a.nodes[name]; !ok {
		return
	}
	delete(a.nodes, name)
	a.reelectAll()
}

// SetService adds or updates a Service.
func (a *Agent) SetService(s Service) {
	a.services[s.Key] = s
	a.elect(s)
}

// RemoveService forgets a Service.
func (a *Agent) RemoveService(key string) {
	delete(a.services, key)
	a.plan.RemoveService(key)
}

// MemberLeft is the failover path: only the Services the member owned move.
func (a *Agent) MemberLeft(node string) { a.plan.Leave(node) }

// MemberJoined lets a returning member take back what ranks it first.
func (a *Agent) MemberJoined(node string) { a.plan.Join(node) }

// Announcements is what this node must answer for, sorted by IP.
func (a *Agent) Announcements() []Announcement {
	var out []Announcement
	for _, key := range a.plan.Owned(a.me) {
		s := a.services[key]
		ifaces := a.interfaces(s)
		for _, ip := range s.IPs {
			out = append(out, Announcement{Service: key, IP: ip, Interfaces: ifaces})
		}
	}
	slices.SortFunc(out, func(x, y Announcement) int { return x.IP.Compare(y.IP) })
	return out
}

func (a *Agent) reelectAll() {
	for _, s := range a.services {
		a.elect(s)
	}
}

// elect ranks the Service's candidates anew. Callers read the outcome from
// Announcements and Owner; the election's Changes matter to nobody here
// (the loop diffs announcements, which also sees interface changes).
func (a *Agent) elect(s Service) {
	in := election.Service{Key: s.Key}
	if len(s.IPs) > 0 {
		in.IP = s.IPs[0]
		in.Candidates, in.Scores = a.candidates(s)
	}
	a.plan.SetService(in)
}

// advertisements returns the L2Advertisements that announce the Service.
func (a *Agent) advertisements(s Service) []*config.L2Advertisement {
	if a.cfg == nil || len(s.IPs) == 0 {
		return nil
	}
	pool := a.cfg.PoolFor(s.IPs[0])
	if pool == nil {
		return nil
	}
	var out []*config.L2Advertisement
	for _, adv := range a.cfg.L2Advertisements {
		if slices.Contains(adv.Pools, pool.Name) && config.MatchesAny(adv.ServiceSelectors, labels.Set(s.Labels)) {
			out = append(out, adv)
		}
	}
	return out
}

// candidates are the nodes allowed to announce the Service: selected by an
// advertisement, not excluded, and, for traffic policy Local, holding a
// ready endpoint. A Service without any ready endpoint has none: nobody
// announces what would drop every packet.
func (a *Agent) candidates(s Service) ([]string, map[string]int64) {
	advs := a.advertisements(s)
	if len(advs) == 0 || len(s.ReadyNodes) == 0 {
		return nil, nil
	}
	var out []string
	var scores map[string]int64
	for name, n := range a.nodes {
		if n.Excluded || (s.Local && !slices.Contains(s.ReadyNodes, name)) {
			continue
		}
		selected := false
		for _, adv := range advs {
			if config.MatchesAny(adv.NodeSelectors, labels.Set(n.Labels)) {
				selected = true
				if w := adv.PreferredWeight(labels.Set(n.Labels)); w != 0 {
					if scores == nil {
						scores = map[string]int64{}
					}
					scores[name] += w
				}
			}
		}
		if selected {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, scores
}

// interfaces are where this node announces the Service: the union of the
// interfaces of the advertisements that select this node, or every usable
// interface (nil) if one of them names none.
func (a *Agent) interfaces(s Service) []string {
	me := a.nodes[a.me]
	var out []string
	for _, adv := range a.advertisements(s) {
		if !config.MatchesAny(adv.NodeSelectors, labels.Set(me.Labels)) {
			continue
		}
		if len(adv.Interfaces) == 0 {
			return nil
		}
		out = append(out, adv.Interfaces...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
