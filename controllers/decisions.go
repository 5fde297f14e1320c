package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/kube"
)

// Snapshot is what State is rebuilt from on start: the configuration and
// the IPs every Service of ours already holds, oldest Service first so
// that a conflict keeps the IP with the Service that had it first.
type Snapshot struct {
	Config    *config.Config
	ConfigErr error
	Services  []RestoredService
}

// RestoredService is one Service's IPs as its status names them.
type RestoredService struct {
	View ipam.Service
	IPs  []netip.Addr
}

// readSnapshot reads the Snapshot from the cluster. It is the only I/O of
// loading, and runs without State's lock.
func readSnapshot(ctx context.Context, c client.Reader, namespace, lbClass string) (Snapshot, error) {
	res, err := kube.ListConfig(ctx, c, namespace)
	if err != nil {
		return Snapshot{}, err
	}
	var snap Snapshot
	snap.Config, _, snap.ConfigErr = config.Parse(res)
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs); err != nil {
		return Snapshot{}, fmt.Errorf("listing Services: %w", err)
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
		snap.Services = append(snap.Services, RestoredService{View: view, IPs: ips})
	}
	return snap, nil
}

// ensureLoaded loads s from the cluster the first time any reconciler
// needs it.
func ensureLoaded(ctx context.Context, s *State, c client.Reader, lbClass string) error {
	if s.Loaded() {
		return nil
	}
	snap, err := readSnapshot(ctx, c, s.namespace, lbClass)
	if err != nil {
		return err
	}
	s.Load(snap)
	return nil
}

// Loaded reports whether the state was rebuilt from the cluster.
func (s *State) Loaded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loaded
}

// Load rebuilds the state from snap, unless another reconciler already
// did (then snap is dropped: the first load wins, as any is as recent as
// the informer cache it read).
func (s *State) Load(snap Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return
	}
	s.cfgErr = snap.ConfigErr
	if snap.ConfigErr == nil {
		s.cfg = snap.Config
		s.alloc.SetPools(snap.Config.IPAMPools())
	}
	for _, r := range snap.Services {
		// A conflict here means two Services' statuses name the same IP:
		// the older keeps it, the other is given a new one when reconciled.
		_ = s.alloc.Restore(r.View, r.IPs)
	}
	s.markAllPoolsDirty()
	s.loaded = true
}

// Decision is what reconciling one Service concluded; the reconciler does
// the I/O it calls for.
type Decision struct {
	// IPs and Pool the Service holds after the decision; Holds is false
	// when it holds none.
	IPs   []netip.Addr
	Pool  string
	Holds bool
	// Changed: the IPs differ from those it held before.
	Changed bool
	// AllocErr is why the Service has no (new) IP: a Warning Event.
	AllocErr error
	// WarnOrphan: its IP has just left every pool (a Warning Event, once).
	WarnOrphan bool
	// AdditionalErr: a PreferDualStack Service holding one family cannot
	// get the other from its pool, which now has it (MetalLB's
	// AdditionalAssignFailed; reported when the reason changes).
	AdditionalErr error
	// Retry are Services waiting for an IP that may now get one.
	Retry []types.NamespacedName
	// DirtyPools are pools whose status must be rewritten.
	DirtyPools []types.NamespacedName
}

// Decide allocates (or confirms) the IPs of the Service key, described by
// view (or viewErr, when its spec is invalid), and records what its
// status must say for the writer.
func (s *State) Decide(key types.NamespacedName, view ipam.Service, viewErr error) Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d Decision
	prev, had := s.alloc.Assignment(view.Key)
	var prevIPs []netip.Addr
	if had {
		prevIPs = slices.Clone(prev.IPs)
	}
	switch {
	case viewErr != nil:
		d.AllocErr = viewErr
	case s.cfg == nil:
		d.AllocErr = fmt.Errorf("no valid configuration has been loaded: %w", s.cfgErr)
	default:
		_, d.AllocErr = s.alloc.Allocate(view)
		if d.AllocErr == nil {
			// A PreferDualStack Service gains its second family once its
			// pool has one, as in MetalLB.
			_, err := s.alloc.AddFamily(view.Key)
			if why := errString(err); why != s.additionalWarned[view.Key] {
				d.AdditionalErr = err
				s.additionalWarned[view.Key] = why
			}
		}
	}
	if asg, holds := s.alloc.Assignment(view.Key); holds {
		d.Holds, d.IPs, d.Pool = true, slices.Clone(asg.IPs), asg.Pool
	}
	if d.AllocErr != nil {
		s.pending[key] = struct{}{}
	} else {
		delete(s.pending, key)
	}
	d.Changed = !slices.Equal(prevIPs, d.IPs)
	if d.Changed {
		s.markPoolsOf(prevIPs)
		s.markPoolsOf(d.IPs)
		if had {
			d.Retry = s.takePending()
		}
	}
	orphan := d.Holds && d.Pool == ""
	d.WarnOrphan = orphan && !s.orphanWarned[view.Key]
	s.orphanWarned[view.Key] = orphan
	if d.Holds {
		w := s.desiredFor(key)
		w.ips, w.pool, w.clear = d.IPs, d.Pool, false
		if d.Changed {
			w.announce = true
		}
	}
	d.DirtyPools = s.dirtyPoolKeys()
	return d
}

// Released is what releasing a Service concluded.
type Released struct {
	// Clear: the Service still exists and held IPs; the writer clears
	// its status and annotation.
	Clear             bool
	Retry, DirtyPools []types.NamespacedName
}

// Release frees what a deleted Service (exists false), or one that is no
// longer ours, held.
func (s *State) Release(key types.NamespacedName, exists bool) Released {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r Released
	asg, had := s.alloc.Assignment(key.String())
	if had {
		s.markPoolsOf(asg.IPs)
		s.alloc.Release(key.String())
		r.Retry = s.takePending()
	}
	delete(s.pending, key)
	delete(s.orphanWarned, key.String())
	delete(s.additionalWarned, key.String())
	r.Clear = exists && had
	if r.Clear {
		d := s.desiredFor(key)
		d.ips, d.pool, d.clear, d.announce = nil, "", true, false
	} else if !exists {
		delete(s.desired, key)
	}
	r.DirtyPools = s.dirtyPoolKeys()
	return r
}

// ConfigApplied is what a new configuration concluded.
type ConfigApplied struct {
	// HadConfig: a valid configuration was in force before.
	HadConfig bool
	// Retry are the Services to reconcile again: those waiting for an IP,
	// and those whose IP left every pool or came back.
	Retry      []types.NamespacedName
	DirtyPools []types.NamespacedName
}

// ApplyConfig puts cfg in force, unless parseErr says it is invalid: then
// the last valid configuration stays, and parseErr is what is reported.
func (s *State) ApplyConfig(cfg *config.Config, parseErr error) ConfigApplied {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := ConfigApplied{HadConfig: s.cfg != nil}
	s.cfgErr = parseErr
	if parseErr == nil {
		s.cfg = cfg
		s.alloc.SetPools(cfg.IPAMPools())
		s.markAllPoolsDirty()
		a.Retry = s.takePending()
		for _, key := range s.alloc.Orphans() {
			if !s.orphanWarned[key] {
				a.Retry = append(a.Retry, kube.ServiceKey(key))
			}
		}
		// PreferDualStack Services may gain their second family from
		// their pool's new ranges.
		for _, key := range s.alloc.OneFamilyOfTwo() {
			a.Retry = append(a.Retry, kube.ServiceKey(key))
		}
		for key, warned := range s.orphanWarned {
			if warned {
				s.orphanWarned[key] = false
			}
		}
	}
	a.DirtyPools = s.dirtyPoolKeys()
	return a
}

// Desired returns what the Service's status should say, false if nothing
// is to be written.
func (s *State) Desired(key types.NamespacedName) (desired, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.desired[key]
	if !ok {
		return desired{}, false
	}
	want := *d
	want.ips = slices.Clone(d.ips)
	return want, true
}

// Written records that want was written to the Service. It reports whether
// the IPs are newly assigned ones that the Service has not yet been told
// of with an Event (once per assignment, and only if the IPs written are
// still the ones wanted).
func (s *State) Written(key types.NamespacedName, want desired) (announce bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.desired[key]; ok && d.announce && slices.Equal(d.ips, want.ips) {
		announce, d.announce = true, false
	}
	if want.clear {
		delete(s.desired, key)
	}
	return announce
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
