package controllers

import (
	"context"
	"fmt"
	"github.com/ironlb/ironlb/internal/kube"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/compat"
)

// writerWorkers is how many Services are written concurrently. Each write
// is an apiserver round trip; 16 in flight keep a local apiserver busy
// without queueing far behind the client's QPS limit.
const writerWorkers = 16

// ServiceWriterReconciler writes what the ServiceReconciler decided:
// status.loadBalancer.ingress, the pool annotation, and the IPAllocated
// Event once the status is written. The work queue never hands one
// Service to two workers at once, so writes to a Service stay ordered.
type ServiceWriterReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	State    *State

	trigger *kube.Trigger
}

// Trigger is what the deciding reconciler fires for a Service to write.
func (r *ServiceWriterReconciler) Trigger() *kube.Trigger {
	if r.trigger == nil {
		r.trigger = &kube.Trigger{}
	}
	return r.trigger
}

// SetupWithManager registers the reconciler.
func (r *ServiceWriterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("servicewriter").
		WatchesRawSource(r.Trigger().Source()).
		WithOptions(kube.ControllerOptions(writerWorkers)).
		Complete(r)
}

// Reconcile writes one Service.
func (r *ServiceWriterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	want, ok := r.State.Desired(req.NamespacedName)
	if !ok {
		return ctrl.Result{}, nil
	}
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if err := r.write(ctx, &svc, want); err != nil {
		return ctrl.Result{}, err
	}
	announce := r.State.Written(req.NamespacedName, want)
	if announce {
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeNormal, compat.ReasonIPAllocated, "Allocate", "Assigned IP %s", quotedIPs(want.ips))
		for _, a := range deprecatedAnnotations(svc.Annotations) {
			r.Recorder.Eventf(&svc, nil, corev1.EventTypeWarning, compat.ReasonDeprecatedAnnotation, "Allocate", "Service uses deprecated annotation %s", a)
		}
	}
	return ctrl.Result{}, nil
}

// deprecatedAnnotations are the Service's metallb.universe.tf/ annotations,
// sorted: still honoured, and named in a Warning as MetalLB does.
func deprecatedAnnotations(annotations map[string]string) []string {
	var out []string
	for k := range annotations {
		if strings.HasPrefix(k, compat.DeprecatedAnnotationPrefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (r *ServiceWriterReconciler) write(ctx context.Context, svc *corev1.Service, want desired) error {
	key := serviceKey(svc)
	ingress := ingressFor(want.ips)
	if want.clear {
		ingress = nil
	}
	annotations, annotationsChange := wantAnnotations(svc.Annotations, want)
	if ingressEqual(svc.Status.LoadBalancer.Ingress, ingress) && !annotationsChange {
		return nil
	}
	// One request for both: the Service status strategy resets only the
	// spec, so metadata rides along with the status patch and each Service
	// costs the apiserver one write instead of two. Should an apiserver
	// ever drop metadata on /status, the check below falls back to a
	// second, plain patch.
	orig := svc.DeepCopy()
	svc.Status.LoadBalancer.Ingress = ingress
	svc.Annotations = annotations
	if err := r.Client.Status().Patch(ctx, svc, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("writing status of Service %s: %w", key, err)
	}
	if !annotationsChange || maps.Equal(svc.Annotations, annotations) {
		return nil
	}
	orig = svc.DeepCopy()
	svc.Annotations = annotations
	if err := r.Client.Patch(ctx, svc, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("annotating Service %s: %w", key, err)
	}
	return nil
}

// wantAnnotations returns the Service's annotations with IronLB's pool
// annotation as it should be, and whether that is a change. An IP outside
// every pool keeps whatever annotation it had: the pool it came from is
// still the best description.
func wantAnnotations(have map[string]string, want desired) (map[string]string, bool) {
	cur, annotated := have[compat.AnnotationIPAllocatedFromPool]
	switch {
	case want.clear && annotated:
		out := maps.Clone(have)
		delete(out, compat.AnnotationIPAllocatedFromPool)
		return out, true
	case !want.clear && want.pool != "" && cur != want.pool:
		out := maps.Clone(have)
		if out == nil {
			out = map[string]string{}
		}
		out[compat.AnnotationIPAllocatedFromPool] = want.pool
		return out, true
	}
	return have, false
}

// desired is what a Service's status and annotation should say.
type desired struct {
	ips  []netip.Addr
	pool string
	// clear removes IronLB's status and annotation (no longer ours).
	clear bool
	// announce records IPAllocated once these IPs are written.
	announce bool
}

func ingressEqual(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && (x.IPMode == nil) == (y.IPMode == nil) &&
			(x.IPMode == nil || *x.IPMode == *y.IPMode) && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}
