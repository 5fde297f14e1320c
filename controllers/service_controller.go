package controllers

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/kube"
)

// ServiceReconciler decides which IPs each LoadBalancer Service holds. It
// only touches memory: it runs the allocator, records the Service's
// desired status in State, and hands the writing to the
// ServiceWriterReconciler. Deciding is fast and sequential, so IPs are
// given in the order Services arrive (svc1..3 of the walkthrough get .200,
// .201, .202); writing is slow and parallel.
type ServiceReconciler struct {
	Client client.Client
	// Namespace holds the configuration.
	Namespace string
	// LBClass is the spec.loadBalancerClass handled; empty means Services
	// without a class.
	LBClass  string
	Recorder events.EventRecorder
	State    *State

	retry      *kube.Trigger // Services waiting for an IP, after IPs were freed
	writer     *kube.Trigger // Services whose desired status changed
	poolStatus *kube.Trigger // pools whose counters changed
}

// SetupWithManager registers the reconciler.
func (r *ServiceReconciler) SetupWithManager(mgr ctrl.Manager, writer, poolStatus *kube.Trigger) error {
	r.retry = &kube.Trigger{}
	r.writer, r.poolStatus = writer, poolStatus
	return ctrl.NewControllerManagedBy(mgr).
		Named("service").
		For(&corev1.Service{}).
		WatchesRawSource(r.retry.Source()).
		WithOptions(kube.ControllerOptions(1)).
		Complete(r)
}

// Reconcile decides one Service's IPs.
func (r *ServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx).WithValues("service", req.NamespacedName.String())
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading Service %s: %w", req.NamespacedName, err)
		}
		return ctrl.Result{}, r.release(ctx, req.NamespacedName, false)
	}
	if !kube.IsOurs(&svc, r.LBClass) {
		return ctrl.Result{}, r.release(ctx, req.NamespacedName, true)
	}
	var nsLabels map[string]string
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, types.NamespacedName{Name: svc.Namespace}, &ns); err == nil {
		nsLabels = ns.Labels
	}

	if err := ensureLoaded(ctx, r.State, r.Client, r.LBClass); err != nil {
		return ctrl.Result{}, err
	}
	view, viewErr := serviceView(&svc, nsLabels)
	d := r.State.Decide(req.NamespacedName, view, viewErr)

	r.retry.Fire(d.Retry...)
	r.poolStatus.Fire(d.DirtyPools...)
	if d.AllocErr != nil {
		log.Info("allocation failed", "reason", d.AllocErr.Error())
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeWarning, compat.ReasonAllocationFailed, "Allocate",
			"Failed to allocate IP for %q: %s", view.Key, d.AllocErr)
	}
	if d.AdditionalErr != nil {
		log.Info("no second family for PreferDualStack", "reason", d.AdditionalErr.Error())
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeNormal, compat.ReasonAdditionalAssignFailed, "Allocate",
			"cannot assign additional IP in PreferDualStack: %s", d.AdditionalErr)
	}
	if d.WarnOrphan {
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeWarning, compat.ReasonIPNotInPool, "Allocate",
			"IP %s is no longer in any IPAddressPool; the Service keeps it until it is changed or deleted", quotedIPs(d.IPs))
	}
	if d.Holds {
		if d.Changed {
			log.Info("assigned", "ip", d.IPs, "pool", d.Pool)
		}
		r.writer.Fire(req.NamespacedName)
	}
	return ctrl.Result{}, nil
}

// release frees what a deleted Service, or one that is no longer ours,
// held; for the latter the writer clears the status and annotation.
func (r *ServiceReconciler) release(ctx context.Context, key types.NamespacedName, exists bool) error {
	if err := ensureLoaded(ctx, r.State, r.Client, r.LBClass); err != nil {
		return err
	}
	rel := r.State.Release(key, exists)
	r.retry.Fire(rel.Retry...)
	r.poolStatus.Fire(rel.DirtyPools...)
	if rel.Clear {
		r.writer.Fire(key)
	}
	return nil
}
