// Package election decides which node announces each Service, the same way
// on every speaker, with no coordination round: every speaker computes the
// same answer from the same inputs.
//
// A Service's candidates are ranked once, when the Service or its
// candidates change: highest preference score first, then SHA-256 of
// node + "#" + IP, MetalLB's order, so a cluster mixing MetalLB and IronLB
// speakers agrees on owners. The owner is the first live candidate. Because
// the ranking is kept, the successor of every owner is known before
// anything fails: when a member dies, only the Services it owned are
// looked at, one step down their ranking each.
//
// Pure logic, no Kubernetes imports. A Plan is owned by one goroutine.
package election

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"slices"
)

// Service is what election needs to know about one Service.
type Service struct {
	// Key names the Service ("namespace/name").
	Key string
	// IP is the Service's first ingress IP, the election key.
	IP netip.Addr
	// Candidates are the nodes allowed to announce it: matching an
	// advertisement, not excluded, and for externalTrafficPolicy Local
	// holding a ready endpoint. Empty means nobody announces.
	Candidates []string
	// Scores are preference weights per node (L2Advertisement
	// preferredNodeSelectors); nil when none apply.
	Scores map[string]int64
}

// Rank orders candidates for ip: higher score first, then SHA-256 of
// node + "#" + ip ascending.
func Rank(candidates []string, ip netip.Addr, scores map[string]int64) []string {
	type keyed struct {
		node  string
		score int64
		hash  [sha256.Size]byte
	}
	ks := make([]keyed, len(candidates))
	key := "#" + ip.String()
	for i, n := range candidates {
		ks[i] = keyed{node: n, score: scores[n], hash: sha256.Sum256([]byte(n + key))}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.hash[:], b.hash[:])
	})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.node
	}
	return slices.Compact(out)
}

// Change is a Service whose owner changed; an empty node means nobody.
type Change struct {
	Service  string
	From, To string
}

// Plan holds every Service's ranking and current owner, and indexes that
// make a membership change cost the Services it concerns, not all of them.
type Plan struct {
	alive    map[string]bool
	ranked   map[string][]string            // service → candidates, best first
	owner    map[string]string              // service → first live candidate, absent if none
	owned    map[string]map[string]struct{} // node → services it owns
	rankedIn map[string]map[string]struct{} // node → services it is a candidate of
}

// NewPlan returns a plan with the given live members and no Services.
func NewPlan(alive []string) *Plan {
	p := &Plan{
		alive:    map[string]bool{},
		ranked:   map[string][]string{},
		owner:    map[string]string{},
		owned:    map[string]map[string]struct{}{},
		rankedIn: map[string]map[string]struct{}{},
	}
	for _, n := range alive {
		p.alive[n] = true
	}
	return p
}

// Owner returns the node announcing the Service, "" if none.
func (p *Plan) Owner(service string) string { return p.owner[service] }

// Candidate reports whether the node may announce the Service (it is
// ranked for it), alive or not.
func (p *Plan) Candidate(service, node string) bool {
	_, ok := p.rankedIn[node][service]
	return ok
}

// Owned returns the Services the node announces, sorted.
func (p *Plan) Owned(node string) []string {
	out := make([]string, 0, len(p.owned[node]))
	for s := range p.owned[node] {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Successor returns who would announce the Service if its owner died
// now: the next live candidate after it, "" if none.
func (p *Plan) Successor(service string) string {
	owner := p.owner[service]
	seen := false
	for _, n := range p.ranked[service] {
		if n == owner {
			seen = true
			continue
		}
		if seen && p.alive[n] {
			return n
		}
	}
	return ""
}

// Predecessors returns, sorted, the owners of the Services the node would
// announce if their owner died now (it is their Successor): the members
// whose death it should notice first.
func (p *Plan) Predecessors(node string) []string {
	seen := map[string]struct{}{}
	for svc, owner := range p.owner {
		if owner != "" && owner != node && p.Successor(svc) == node {
			seen[owner] = struct{}{}
		}
	}
	return sortedKeys(seen)
}

// Alive reports whether the node is a live member.
func (p *Plan) Alive(node string) bool { return p.alive[node] }

// SetService adds or updates a Service and returns the change of owner, if
// any.
func (p *Plan) SetService(s Service) (Change, bool) {
	prev := p.owner[s.Key]
	p.unindex(s.Key)
	ranked := Rank(s.Candidates, s.IP, s.Scores)
	p.ranked[s.Key] = ranked
	for _, n := range ranked {
		addTo(p.rankedIn, n, s.Key)
	}
	p.elect(s.Key)
	if next := p.owner[s.Key]; next != prev {
		return Change{Service: s.Key, From: prev, To: next}, true
	}
	return Change{}, false
}

// RemoveService forgets a Service and returns the change of owner, if any.
func (p *Plan) RemoveService(key string) (Change, bool) {
	prev := p.owner[key]
	p.unindex(key)
	delete(p.ranked, key)
	if prev == "" {
		return Change{}, false
	}
	return Change{Service: key, From: prev}, true
}

// Leave marks a member dead and returns the Services that move: only those
// it owned, each to its next live candidate.
func (p *Plan) Leave(node string) []Change {
	if !p.alive[node] {
		return nil
	}
	delete(p.alive, node)
	var changes []Change
	for _, svc := range sortedKeys(p.owned[node]) {
		if c, ok := p.elect(svc); ok {
			changes = append(changes, c)
		}
	}
	return changes
}

// Join marks a member alive and returns the Services that move to it: only
// those it is a candidate of and now outranks the owner.
func (p *Plan) Join(node string) []Change {
	if p.alive[node] {
		return nil
	}
	p.alive[node] = true
	var changes []Change
	for _, svc := range sortedKeys(p.rankedIn[node]) {
		if c, ok := p.elect(svc); ok {
			changes = append(changes, c)
		}
	}
	return changes
}

// elect sets the Service's owner to its first live candidate.
func (p *Plan) elect(svc string) (Change, bool) {
	prev := p.owner[svc]
	next := ""
	for _, n := range p.ranked[svc] {
		if p.alive[n] {
			next = n
			break
		}
	}
	if prev == next {
		return Change{}, false
	}
	if prev != "" {
		removeFrom(p.owned, prev, svc)
	}
	if next != "" {
		p.owner[svc] = next
		addTo(p.owned, next, svc)
	} else {
		delete(p.owner, svc)
	}
	return Change{Service: svc, From: prev, To: next}, true
}

func (p *Plan) unindex(svc string) {
	for _, n := range p.ranked[svc] {
		removeFrom(p.rankedIn, n, svc)
	}
	if o := p.owner[svc]; o != "" {
		removeFrom(p.owned, o, svc)
		delete(p.owner, svc)
	}
}

func addTo(m map[string]map[string]struct{}, node, svc string) {
	if m[node] == nil {
		m[node] = map[string]struct{}{}
	}
	m[node][svc] = struct{}{}
}

func removeFrom(m map[string]map[string]struct{}, node, svc string) {
	delete(m[node], svc)
	if len(m[node]) == 0 {
		delete(m, node)
	}
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
