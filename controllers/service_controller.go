package controllers

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/ironlb/ironlb/internal/compat"
)

// ServiceReconciler gives LoadBalancer Services their IPs: it decides with
// the in-memory allocator, then writes status.loadBalancer.ingress, the
// pool annotation and an Event.
type ServiceReconciler struct {
	Client client.Client
	// Namespace holds the configuration.
	Namespace string
	// LBClass is the spec.loadBalancerClass handled; empty means Services
	// without a class.
	LBClass  string
	Recorder events.EventRecorder
	State    *State

	retry      *trigger // Services waiting for an IP, after IPs were freed
	poolStatus *trigger // pools whose counters changed
}

// SetupWithManager registers the reconciler. poolStatus receives the pools
// whose counters changed.
func (r *ServiceReconciler) SetupWithManager(mgr ctrl.Manager, poolStatus *trigger) error {
	r.retry = newTrigger()
	r.poolStatus = poolStatus
	return ctrl.NewControllerManagedBy(mgr).
		Named("service").
		For(&corev1.Service{}).
		WatchesRawSource(r.retry.source()).
		// One worker: allocation happens in the order Services arrive, so
		// svc1..3 of the walkthrough get .200, .201, .202.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(r)
}

// Reconcile brings one Service's IPs and status in line with the allocator.
func (r *ServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx).WithValues("service", req.NamespacedName.String())
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading Service %s: %w", req.NamespacedName, err)
		}
		return ctrl.Result{}, r.release(ctx, req.NamespacedName, nil)
	}
	if !isOurs(&svc, r.LBClass) {
		return ctrl.Result{}, r.release(ctx, req.NamespacedName, &svc)
	}
	var nsLabels map[string]string
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, types.NamespacedName{Name: svc.Namespace}, &ns); err == nil {
		nsLabels = ns.Labels
	}

	s := r.State
	s.mu.Lock()
	if err := s.ensureLoaded(ctx, r.Client, r.Namespace, r.LBClass); err != nil {
		s.mu.Unlock()
		return ctrl.Result{}, err
	}
	view, viewErr := serviceView(&svc, nsLabels)
	var allocErr error
	prev, had := s.alloc.Assignment(view.Key)
	var prevIPs []netip.Addr
	if had {
		prevIPs = slices.Clone(prev.IPs)
	}
	switch {
	case viewErr != nil:
		allocErr = viewErr
	case s.cfg == nil:
		allocErr = fmt.Errorf("no valid configuration has been loaded: %w", s.cfgErr)
	default:
		_, allocErr = s.alloc.Allocate(view)
	}
	asg, holds := s.alloc.Assignment(view.Key)
	var ips []netip.Addr
	var pool string
	if holds {
		ips, pool = slices.Clone(asg.IPs), asg.Pool
	}
	if allocErr != nil {
		s.pending[req.NamespacedName] = struct{}{}
	} else {
		delete(s.pending, req.NamespacedName)
	}
	changed := !slices.Equal(prevIPs, ips)
	var retry []types.NamespacedName
	if changed {
		s.markPoolsOf(prevIPs)
		s.markPoolsOf(ips)
		if had {
			retry = s.takePending()
		}
	}
	warnOrphan := holds && pool == "" && !s.orphanWarned[view.Key]
	s.orphanWarned[view.Key] = holds && pool == ""
	dirty := s.dirtyPoolKeys(r.Namespace)
	s.mu.Unlock()

	r.retry.fire(ctx, retry...)
	r.poolStatus.fire(ctx, dirty...)
	if allocErr != nil {
		log.Info("allocation failed", "reason", allocErr.Error())
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeWarning, compat.ReasonAllocationFailed, "Allocate",
			"Failed to allocate IP for %q: %s", view.Key, allocErr)
	}
	if !holds {
		return ctrl.Result{}, nil
	}
	if err := r.writeService(ctx, &svc, ips, pool); err != nil {
		return ctrl.Result{}, err
	}
	if changed {
		log.Info("assigned", "ip", ips, "pool", pool)
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeNormal, compat.ReasonIPAllocated, "Allocate", "Assigned IP %s", quotedIPs(ips))
	}
	if warnOrphan {
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeWarning, compat.ReasonIPNotInPool, "Allocate",
			"IP %s is no longer in any IPAddressPool; the Service keeps it until it is changed or deleted", quotedIPs(ips))
	}
	return ctrl.Result{}, nil
}

// writeService makes the Service's status and pool annotation match.
func (r *ServiceReconciler) writeService(ctx context.Context, svc *corev1.Service, ips []netip.Addr, pool string) error {
	want := ingressFor(ips)
	if !ingressEqual(svc.Status.LoadBalancer.Ingress, want) {
		orig := svc.DeepCopy()
		svc.Status.LoadBalancer.Ingress = want
		if err := r.Client.Status().Patch(ctx, svc, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("writing status of Service %s: %w", serviceKey(svc), err)
		}
	}
	// An IP outside every pool keeps whatever annotation it had: the pool
	// it came from is still the best description.
	if pool != "" && svc.Annotations[compat.AnnotationIPAllocatedFromPool] != pool {
		orig := svc.DeepCopy()
		svc.Annotations = maps.Clone(svc.Annotations)
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[compat.AnnotationIPAllocatedFromPool] = pool
		if err := r.Client.Patch(ctx, svc, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("annotating Service %s: %w", serviceKey(svc), err)
		}
	}
	return nil
}

// release frees what a deleted Service, or one that is no longer ours,
// held; for the latter it also clears the status and annotation it wrote.
func (r *ServiceReconciler) release(ctx context.Context, key types.NamespacedName, svc *corev1.Service) error {
	s := r.State
	s.mu.Lock()
	if err := s.ensureLoaded(ctx, r.Client, r.Namespace, r.LBClass); err != nil {
		s.mu.Unlock()
		return err
	}
	asg, had := s.alloc.Assignment(key.String())
	var retry []types.NamespacedName
	if had {
		s.markPoolsOf(asg.IPs)
		s.alloc.Release(key.String())
		retry = s.takePending()
	}
	delete(s.pending, key)
	delete(s.orphanWarned, key.String())
	dirty := s.dirtyPoolKeys(r.Namespace)
	s.mu.Unlock()

	r.retry.fire(ctx, retry...)
	r.poolStatus.fire(ctx, dirty...)
	if svc == nil || !had {
		return nil
	}
	if len(svc.Status.LoadBalancer.Ingress) > 0 {
		orig := svc.DeepCopy()
		svc.Status.LoadBalancer.Ingress = nil
		if err := r.Client.Status().Patch(ctx, svc, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("clearing status of Service %s: %w", key, err)
		}
	}
	if _, ok := svc.Annotations[compat.AnnotationIPAllocatedFromPool]; ok {
		orig := svc.DeepCopy()
		svc.Annotations = maps.Clone(svc.Annotations)
		delete(svc.Annotations, compat.AnnotationIPAllocatedFromPool)
		if err := r.Client.Patch(ctx, svc, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("removing pool annotation of Service %s: %w", key, err)
		}
	}
	return nil
}

func ingressEqual(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && (x.IPMode == nil) == (y.IPMode == nil) &&
			(x.IPMode == nil || *x.IPMode == *y.IPMode) && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}
