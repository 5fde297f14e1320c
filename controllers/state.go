package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/kube"
)

// State is the controller's one piece of mutable state: the allocator and
// the configuration it was built from. The cluster is the source of truth:
// State is rebuilt from the Services' own status on start, before anything
// is allocated.
//
// mu guards every field; reconcilers hold it only for in-memory decisions,
// never across an API call.
type State struct {
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
	// desired is what each Service's status should say, for the writer.
	desired map[types.NamespacedName]*desired
}

// NewState returns an empty state; it loads on first use.
func NewState() *State {
	return &State{
		alloc:        ipam.New(),
		pending:      map[types.NamespacedName]struct{}{},
		poolsDirty:   map[string]struct{}{},
		orphanWarned: map[string]bool{},
		desired:      map[types.NamespacedName]*desired{},
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

// ensureLoaded builds the state from the cluster the first time it is
// needed: the configuration, then every Service's current IPs, oldest
// Service first so that a conflict keeps the IP with the Service that had
// it first. Caller holds mu.
func (s *State) ensureLoaded(ctx context.Context, c client.Reader, namespace, lbClass string) error {
	if s.loaded {
		return nil
	}
	res, err := kube.ListConfig(ctx, c, namespace)
	if err != nil {
		return err
	}
	cfg, _, err := config.Parse(res)
	s.cfgErr = err
	if err == nil {
		s.cfg = cfg
		s.alloc.SetPools(cfg.IPAMPools())
	}
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs); err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	items := svcs.Items
	slices.SortFunc(items, func(a, b corev1.Service) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(serviceKey(&a), serviceKey(&b))
	})
	for i := range items {
		svc := &items[i]
		ips := kube.IngressIPs(svc)
		if !kube.IsOurs(svc, lbClass) || len(ips) == 0 {
			continue
		}
		view, err := serviceView(svc, nil)
		if err != nil {
			view = ipam.Service{Key: serviceKey(svc), Namespace: svc.Namespace}
		}
		// A conflict here means two Services' statuses name the same IP:
		// the older keeps it, the other is given a new one when reconciled.
		_ = s.alloc.Restore(view, ips)
	}
	s.markAllPoolsDirty()
	s.loaded = true
	return nil
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
func (s *State) dirtyPoolKeys(namespace string) []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(s.poolsDirty))
	for name := range s.poolsDirty {
		out = append(out, types.NamespacedName{Namespace: namespace, Name: name})
	}
	clear(s.poolsDirty)
	return out
}
