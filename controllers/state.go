package controllers

import (
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipam"
)

// State is the controller's one piece of mutable state: the allocator and
// the configuration it was built from. The cluster is the source of truth:
// State is rebuilt from the Services' own status on start, before anything
// is allocated.
//
// mu guards every field. Only State's methods take it, for in-memory
// decisions they return (decisions.go); reconcilers do the I/O around
// them, and nothing reads from the API while it is held.
type State struct {
	namespace string // of the pools, for their status requests

	mu      sync.Mutex
	loaded  bool
	alloc   *ipam.Allocator
	cfg     *config.Config
	cfgErr  error // the newest configuration's problems, nil when it is in force
	pending map[types.NamespacedName]struct{}
	// poolsDirty are pools whose counters changed since their status was written.
	poolsDirty map[string]struct{}
	// orphanWarned are Services already warned that their IP left every pool.
	orphanWarned map[string]bool
	// additionalWarned is, by Service, the last reason it could not get
	// its second family (PreferDualStack).
	additionalWarned map[string]string
	// desired is what each Service's status should say, for the writer.
	desired map[types.NamespacedName]*desired
}

// NewState returns an empty state for the controller whose pools live in
// namespace; it loads on first use.
func NewState(namespace string) *State {
	return &State{
		namespace:        namespace,
		alloc:            ipam.New(),
		pending:          map[types.NamespacedName]struct{}{},
		poolsDirty:       map[string]struct{}{},
		orphanWarned:     map[string]bool{},
		additionalWarned: map[string]string{},
		desired:          map[types.NamespacedName]*desired{},
	}
}

// desiredFor returns the Service's desired status, creating it. Caller
// holds mu.
func (s *State) desiredFor(key types.NamespacedName) *desired {
	d, ok := s.desired[key]
	if !ok {
		d = &desired{}
		s.desired[key] = d
	}
	return d
}

func (s *State) markAllPoolsDirty() {
	if s.cfg == nil {
		return
	}
	for name := range s.cfg.Pools {
		s.poolsDirty[name] = struct{}{}
	}
}

// markPoolsOf marks the pools holding ips as changed. Caller holds mu.
func (s *State) markPoolsOf(ips []netip.Addr) {
	if s.cfg == nil {
		return
	}
	for _, ip := range ips {
		if p := s.cfg.PoolFor(ip); p != nil {
			s.poolsDirty[p.Name] = struct{}{}
		}
	}
}

// takePending returns and clears the Services waiting for an IP. Caller
// holds mu.
func (s *State) takePending() []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(s.pending))
	for k := range s.pending {
		out = append(out, k)
	}
	clear(s.pending)
	return out
}

// poolStats returns a pool's counters, false if it is not configured.
func (s *State) poolStats(name string) (ipam.PoolStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alloc.Stats(name)
}

// dirtyPoolKeys returns the pools whose status must be rewritten as
// requests for the pool status reconciler, and clears the set. Caller
// holds mu.
func (s *State) dirtyPoolKeys() []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(s.poolsDirty))
	for name := range s.poolsDirty {
		out = append(out, types.NamespacedName{Namespace: s.namespace, Name: name})
	}
	clear(s.poolsDirty)
	return out
}
