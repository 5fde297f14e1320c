package status

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/kube"
)

// BGP keeps this node's ServiceBGPStatus objects: one per Service this
// node advertises, listing the peers. Unlike layer 2 every advertising
// node has its own, so a node only ever touches the objects labelled with
// its name. It implements the loop's BGPStatusSink: Advertising and
// NotAdvertising only record and enqueue.
type BGP struct {
	Client    client.Client
	Namespace string
	NodeName  string
	// Owner, when set, owns the objects (the speaker's Pod).
	Owner    client.Object
	Recorder events.EventRecorder

	mu   sync.Mutex
	want map[string][]string // service key → peers; absent: not advertised
	ch   chan event.TypedGenericEvent[types.NamespacedName]
}

// SetupWithManager registers the reconciler.
func (s *BGP) SetupWithManager(mgr ctrl.Manager) error {
	s.init()
	// This node's status deleted by someone else is written again while
	// this node still advertises.
	mine := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc: func(e event.DeleteEvent) bool {
			return e.Object.GetNamespace() == s.Namespace && e.Object.GetLabels()[compat.LabelAnnounceNode] == s.NodeName
		},
	}
	toService := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		l := o.GetLabels()
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: l[compat.LabelServiceNamespace], Name: l[compat.LabelServiceName]}}}
	})
	return ctrl.NewControllerManagedBy(mgr).Named("speaker-bgpstatus").
		WatchesRawSource(source.Channel(s.ch, handler.TypedEnqueueRequestsFromMapFunc(
			func(_ context.Context, k types.NamespacedName) []reconcile.Request {
				return []reconcile.Request{{NamespacedName: k}}
			}))).
		Watches(&v1beta1.ServiceBGPStatus{}, toService, builder.WithPredicates(mine)).
		Complete(s)
}

func (s *BGP) init() {
	s.want = map[string][]string{}
	s.ch = make(chan event.TypedGenericEvent[types.NamespacedName], queueBuffer)
}

// Advertising records that this node advertises the Service to peers.
func (s *BGP) Advertising(service string, peers []string) {
	s.mu.Lock()
	s.want[service] = slices.Clone(peers)
	s.mu.Unlock()
	s.enqueue(service)
}

// NotAdvertising records that it no longer does.
func (s *BGP) NotAdvertising(service string) {
	s.mu.Lock()
	delete(s.want, service)
	s.mu.Unlock()
	s.enqueue(service)
}

// enqueue never blocks the loop; a request dropped on a full buffer is
// logged, and the Service's next change writes its status.
func (s *BGP) enqueue(service string) {
	select {
	case s.ch <- event.TypedGenericEvent[types.NamespacedName]{Object: kube.ServiceKey(service)}:
	default:
		ctrl.Log.WithName("bgpstatus").Info("status queue full; this status is written on the Service's next change", "service", service)
	}
}

// Reconcile writes one Service's status for this node.
func (s *BGP) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	key := req.NamespacedName.String()
	s.mu.Lock()
	peers, advertising := s.want[key]
	s.mu.Unlock()

	var list v1beta1.ServiceBGPStatusList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{
		compat.LabelServiceName: req.Name, compat.LabelServiceNamespace: req.Namespace, compat.LabelAnnounceNode: s.NodeName,
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing ServiceBGPStatus of %s on node %s: %w", key, s.NodeName, err)
	}
	var mine *v1beta1.ServiceBGPStatus
	for i := range list.Items {
		st := &list.Items[i]
		if advertising && mine == nil {
			mine = st
			continue
		}
		if err := s.Client.Delete(ctx, st); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting ServiceBGPStatus %s: %w", st.Name, err)
		}
	}
	if !advertising {
		return ctrl.Result{}, nil
	}
	status := v1beta1.ServiceBGPStatusStatus{Node: s.NodeName, ServiceName: req.Name, ServiceNamespace: req.Namespace, Peers: peers}
	created := false
	if mine == nil {
		// MetalLB names them bgp-<suffix>, as ServiceL2Status l2-<suffix>.
		mine = &v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "bgp-", Namespace: s.Namespace,
			Labels: map[string]string{
				compat.LabelAnnounceNode: s.NodeName, compat.LabelServiceName: req.Name, compat.LabelServiceNamespace: req.Namespace,
			},
		}}
		if s.Owner != nil {
			if err := controllerutil.SetOwnerReference(s.Owner, mine, s.Client.Scheme()); err != nil {
				return ctrl.Result{}, err
			}
		}
		if err := s.Client.Create(ctx, mine); err != nil {
			return ctrl.Result{}, fmt.Errorf("creating ServiceBGPStatus for %s: %w", key, err)
		}
		created = true
	}
	if !bgpStatusEqual(mine.Status, status) {
		mine.Status = status
		if err := s.Client.Status().Update(ctx, mine); err != nil {
			return ctrl.Result{}, fmt.Errorf("writing ServiceBGPStatus %s: %w", mine.Name, err)
		}
	}
	if created {
		var svc corev1.Service
		if err := s.Client.Get(ctx, req.NamespacedName, &svc); err == nil {
			s.Recorder.Eventf(&svc, nil, corev1.EventTypeNormal, compat.ReasonNodeAssigned, "Announce",
				"announcing from node %q with protocol %q", s.NodeName, "bgp")
		}
	}
	return ctrl.Result{}, nil
}

func bgpStatusEqual(a, b v1beta1.ServiceBGPStatusStatus) bool {
	return a.Node == b.Node && a.ServiceName == b.ServiceName && a.ServiceNamespace == b.ServiceNamespace &&
		slices.Equal(a.Peers, b.Peers)
}
