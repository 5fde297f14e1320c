package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/ironlb/ironlb/internal/kube"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipam"
	"github.com/ironlb/ironlb/internal/metrics"
)

// PoolStatusReconciler writes each IPAddressPool's address counts to its
// status and to the allocator metrics. Requests for one pool collapse in
// the work queue, so a burst of allocations costs one write.
type PoolStatusReconciler struct {
	Client    client.Client
	Namespace string
	State     *State
	Metrics   *metrics.Controller

	trigger *kube.Trigger
}

// Trigger is what other reconcilers fire when pool counters change.
func (r *PoolStatusReconciler) Trigger() *kube.Trigger {
	if r.trigger == nil {
		r.trigger = &kube.Trigger{}
	}
	return r.trigger
}

// SetupWithManager registers the reconciler.
func (r *PoolStatusReconciler) SetupWithManager(mgr ctrl.Manager) error {
	inNamespace := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace })
	return ctrl.NewControllerManagedBy(mgr).
		Named("poolstatus").
		For(&v1beta1.IPAddressPool{}, builderPredicates(inNamespace, predicate.GenerationChangedPredicate{})...).
		WatchesRawSource(r.Trigger().Source()).
		WithOptions(kube.ControllerOptions(1)).
		Complete(r)
}

// Reconcile writes one pool's counters.
func (r *PoolStatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	st, ok := r.State.poolStats(req.Name)
	if !ok {
		r.Metrics.DeletePool(req.Name)
		return ctrl.Result{}, nil
	}
	r.Metrics.SetPool(req.Name, metrics.Pool{Services: st.Services,
		IPv4InUse: st.InUse[ipam.IPv4], IPv6InUse: st.InUse[ipam.IPv6], IPv4Total: st.Total[ipam.IPv4], IPv6Total: st.Total[ipam.IPv6]})

	var pool v1beta1.IPAddressPool
	if err := r.Client.Get(ctx, req.NamespacedName, &pool); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	want := v1beta1.IPAddressPoolStatus{
		AssignedIPv4: st.InUse[ipam.IPv4], AssignedIPv6: st.InUse[ipam.IPv6],
		AvailableIPv4: st.Available[ipam.IPv4], AvailableIPv6: st.Available[ipam.IPv6],
	}
	if pool.Status == want {
		return ctrl.Result{}, nil
	}
	// A merge patch naming all four counters: the schema requires each, a
	// diff-based patch would omit the unchanged ones, and an update would
	// conflict with the cache's older resourceVersion.
	patch, err := json.Marshal(map[string]any{"status": want})
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Client.Status().Patch(ctx, &pool, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return ctrl.Result{}, fmt.Errorf("writing status of IPAddressPool %s: %w", req.Name, err)
	}
	return ctrl.Result{}, nil
}

func builderPredicates(ps ...predicate.Predicate) []builder.ForOption {
	return []builder.ForOption{builder.WithPredicates(ps...)}
}
