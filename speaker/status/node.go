package status

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/kube"
)

// writer is what the L2 and BGP status writers share: where and as whom
// they write this node's status objects.
type writer struct {
	client    client.Client
	namespace string
	node      string
	owner     client.Object
	recorder  events.EventRecorder
}

// setup registers a controller that reconciles the Services sent on ch,
// and, when this node's status object of kind obj is deleted by someone
// else, its Service: the object is written again while this node still
// announces (after a partition heals, the status names the winner).
func (w writer) setup(mgr ctrl.Manager, name string, obj client.Object, reqs *kube.Trigger, r reconcile.Reconciler) error {
	mine := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc: func(e event.DeleteEvent) bool {
			return e.Object.GetNamespace() == w.namespace && e.Object.GetLabels()[compat.LabelAnnounceNode] == w.node
		},
	}
	toService := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		l := o.GetLabels()
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: l[compat.LabelServiceNamespace], Name: l[compat.LabelServiceName]}}}
	})
	return ctrl.NewControllerManagedBy(mgr).Named(name).
		WatchesRawSource(reqs.Source()).
		Watches(obj, toService, builder.WithPredicates(mine)).
		WithOptions(kube.ControllerOptions(1)).
		Complete(r)
}

// create makes obj this node's status object of the Service, named
// prefix-<suffix> as MetalLB names them, labelled with the node and the
// Service and owned by the speaker's Pod, so it goes when the speaker does.
func (w writer) create(ctx context.Context, obj client.Object, prefix string, service types.NamespacedName) error {
	obj.SetGenerateName(prefix)
	obj.SetNamespace(w.namespace)
	obj.SetLabels(map[string]string{
		compat.LabelAnnounceNode: w.node, compat.LabelServiceName: service.Name, compat.LabelServiceNamespace: service.Namespace,
	})
	if w.owner != nil {
		if err := controllerutil.SetOwnerReference(w.owner, obj, w.client.Scheme()); err != nil {
			return err
		}
	}
	if err := w.client.Create(ctx, obj); err != nil {
		return fmt.Errorf("creating %s for %s on node %s: %w", reflect.TypeOf(obj).Elem().Name(), service, w.node, err)
	}
	return nil
}

// assigned sends MetalLB's nodeAssigned Event on the Service.
func (w writer) assigned(ctx context.Context, service types.NamespacedName, protocol string) {
	var svc corev1.Service
	if err := w.client.Get(ctx, service, &svc); err == nil {
		w.recorder.Eventf(&svc, nil, corev1.EventTypeNormal, compat.ReasonNodeAssigned, "Announce",
			"announcing from node %q with protocol %q", w.node, protocol)
	}
}

// announceFailed sends MetalLB's announceFailed Event on the Service, in
// MetalLB's words.
func (w writer) announceFailed(ctx context.Context, service types.NamespacedName, ip netip.Addr, protocol string) {
	var svc corev1.Service
	if err := w.client.Get(ctx, service, &svc); err == nil {
		w.recorder.Eventf(&svc, nil, corev1.EventTypeWarning, compat.ReasonAnnounceFailed, "Announce",
			"the interfaces specified by LB IP %q doesn't exist in assigned node %q with protocol %q", ip.String(), w.node, protocol)
	}
}

// put makes obj, this node's status object of the Service, hold its wanted
// status: a new obj is created first (and nodeAssigned sent once it holds
// the status); set puts the wanted status into obj and reports whether
// that changed it, so an unchanged object is not written.
func (w writer) put(ctx context.Context, obj client.Object, isNew bool, prefix, protocol string, service types.NamespacedName, set func() bool) error {
	if isNew {
		if err := w.create(ctx, obj, prefix, service); err != nil {
			return err
		}
	}
	if set() {
		if err := w.client.Status().Update(ctx, obj); err != nil {
			return fmt.Errorf("writing %s %s: %w", reflect.TypeOf(obj).Elem().Name(), obj.GetName(), err)
		}
	}
	if isNew {
		w.assigned(ctx, service, protocol)
	}
	return nil
}
