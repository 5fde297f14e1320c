// Package watch is the speaker's view of the cluster: controller-runtime
// reconcilers that turn Services with their EndpointSlices, Nodes, the
// configuration and the other speakers' pods into plain updates for the
// loop. They decide nothing.
package watch

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/kube"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/speaker/agent"
	"github.com/ironlb/ironlb/speaker/loop"
	"github.com/ironlb/ironlb/speaker/members"
)

// send delivers an update to the loop, or gives up when ctx ends.
func send(ctx context.Context, out chan<- loop.Update, u loop.Update) error {
	select {
	case out <- u:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Services reports LoadBalancer Services of our class that have IPs, with
// the nodes holding their ready endpoints.
type Services struct {
	Client  client.Client
	LBClass string
	Out     chan<- loop.Update
}

// SetupWithManager registers the reconciler.
func (r *Services) SetupWithManager(mgr ctrl.Manager) error {
	toService := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()[discoveryv1.LabelServiceName]
		if name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	})
	return ctrl.NewControllerManagedBy(mgr).Named("speaker-services").
		For(&corev1.Service{}).
		Watches(&discoveryv1.EndpointSlice{}, toService).
		WithOptions(kube.ControllerOptions(1)).
		Complete(r)
}

// Reconcile reports one Service.
func (r *Services) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	key := req.NamespacedName.String()
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, send(ctx, r.Out, loop.Update{RemoveService: key})
		}
		return ctrl.Result{}, err
	}
	ips := kube.IngressIPs(&svc)
	if !kube.IsOurs(&svc, r.LBClass) || len(ips) == 0 {
		return ctrl.Result{}, send(ctx, r.Out, loop.Update{RemoveService: key})
	}
	var slices_ discoveryv1.EndpointSliceList
	if err := r.Client.List(ctx, &slices_, client.InNamespace(svc.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing EndpointSlices of %s: %w", key, err)
	}
	s := agent.Service{
		Key: key, Labels: svc.Labels, IPs: ips,
		Local:      svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		ReadyNodes: readyNodes(slices_.Items),
	}
	return ctrl.Result{}, send(ctx, r.Out, loop.Update{Service: &s})
}

// readyNodes are the nodes with at least one endpoint that can serve: ready
// (a missing condition counts as ready, as the API documents), or
// terminating but still serving, which kube-proxy sends traffic to when
// nothing ready is left; so a VIP stays announced while its last pods
// drain, as in MetalLB.
func readyNodes(eps []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range eps {
		for _, e := range s.Endpoints {
			c := e.Conditions
			canServe := c.Ready == nil || *c.Ready || (c.Serving != nil && *c.Serving)
			if e.NodeName == nil || !canServe {
				continue
			}
			out = append(out, *e.NodeName)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Nodes reports nodes: labels and exclusion, and, when memberlist is off,
// membership from their Ready condition.
type Nodes struct {
	Client client.Client
	Out    chan<- loop.Update
	// MembershipFromReadiness turns Ready transitions into membership
	// events: the slow fallback when memberlist is disabled.
	MembershipFromReadiness bool
	// IgnoreExcludeLB (--ignore-exclude-lb) lets nodes labelled
	// node.kubernetes.io/exclude-from-external-load-balancers announce.
	IgnoreExcludeLB bool
}

// SetupWithManager registers the reconciler.
func (r *Nodes) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("speaker-nodes").For(&corev1.Node{}).WithOptions(kube.ControllerOptions(1)).Complete(r)
}

// Reconcile reports one node.
func (r *Nodes) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var n corev1.Node
	if err := r.Client.Get(ctx, req.NamespacedName, &n); err != nil {
		if apierrors.IsNotFound(err) {
			if r.MembershipFromReadiness {
				if err := send(ctx, r.Out, loop.Update{Member: &members.Event{Kind: members.Left, Node: req.Name}}); err != nil {
					return ctrl.Result{}, err
				}
			}
			return ctrl.Result{}, send(ctx, r.Out, loop.Update{RemoveNode: req.Name})
		}
		return ctrl.Result{}, err
	}
	node, ready := nodeView(&n, r.IgnoreExcludeLB)
	if err := send(ctx, r.Out, loop.Update{Node: &node}); err != nil {
		return ctrl.Result{}, err
	}
	if r.MembershipFromReadiness {
		kind := members.Left
		if ready {
			kind = members.Joined
		}
		return ctrl.Result{}, send(ctx, r.Out, loop.Update{Member: &members.Event{Kind: kind, Node: n.Name}})
	}
	return ctrl.Result{}, nil
}

// nodeView is the node as announcing sees it, and whether it is Ready. As
// in MetalLB, a node with the NetworkUnavailable condition never announces,
// nor does one labelled exclude-from-external-load-balancers (whatever the
// label's value) unless --ignore-exclude-lb.
func nodeView(n *corev1.Node, ignoreExcludeLB bool) (node agent.Node, ready bool) {
	_, labelled := n.Labels[compat.NodeExcludeLabel]
	excluded := labelled && !ignoreExcludeLB
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue:
			excluded = true
		case c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue:
			ready = true
		}
	}
	return agent.Node{Name: n.Name, Labels: n.Labels, Excluded: excluded}, ready
}

// Config validates the configuration of the namespace and reports each
// valid one; an invalid one is logged and counted, and the last valid one
// stays in force.
type Config struct {
	Client    client.Client
	Namespace string
	Out       chan<- loop.Update
	Metrics   *metrics.Client
	Log       logr.Logger
	// Recorder records why a BGPPeer gets no session; may be nil.
	Recorder events.EventRecorder
	// ConfigState, when set, records each load in this speaker's
	// ConfigurationState.
	ConfigState *kube.ConfigStateReporter
	// SpeakerSet is this speaker's DaemonSet, "namespace/name" (empty when
	// unknown): L2Advertisements silenced for it select no node
	// (config.ForSpeakers).
	SpeakerSet string

	silenced string // the advertisements silenced for SpeakerSet, as last logged
}

// SetupWithManager registers the reconciler.
func (r *Config) SetupWithManager(mgr ctrl.Manager) error {
	toConfig := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: "config"}}}
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("speaker-config").
		WithEventFilter(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace })).
		WithOptions(kube.ControllerOptions(1))
	for _, obj := range kube.ConfigObjects() {
		b = b.Watches(obj, toConfig)
	}
	// BGPPeers' passwords; the cache must hold Secrets of the namespace only.
	b = b.Watches(&corev1.Secret{}, toConfig)
	return b.Complete(r)
}

// logSilenced logs which advertisements are silenced for this speaker's
// DaemonSet whenever that changes: while they are, this speaker announces
// nothing they select.
func (r *Config) logSilenced(advs []v1beta1.L2Advertisement) {
	var names []string
	for i := range advs {
		if r.SpeakerSet != "" && slices.Contains(config.SilencedSpeakers(&advs[i]), r.SpeakerSet) {
			names = append(names, advs[i].Name)
		}
	}
	now := strings.Join(names, ",")
	if now == r.silenced {
		return
	}
	r.silenced = now
	if now == "" {
		r.Log.Info("no L2Advertisement is silenced for this speaker's DaemonSet any more", "speakers", r.SpeakerSet)
		return
	}
	r.Log.Info("L2Advertisements silenced for this speaker's DaemonSet (annotation "+config.AnnotationSilencedSpeakers+"): they select no node for it, so it announces none of their VIPs",
		"speakers", r.SpeakerSet, "l2Advertisements", names)
}

func (r *Config) reportState(ctx context.Context, loadErr error) {
	if r.ConfigState == nil {
		return
	}
	if err := r.ConfigState.Report(ctx, loadErr); err != nil {
		r.Log.Info("cannot report the configuration state", "reason", err.Error())
	}
}

// Reconcile validates the whole configuration, hands it to the loop when
// it is valid, and reports the verdict in the ConfigurationState.
func (r *Config) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	verdict, err := r.Load(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.reportState(ctx, verdict)
	return ctrl.Result{}, nil
}

// Load reads and validates the whole configuration and hands it to the
// loop when it is valid; a refused one leaves the last valid one in force.
// It returns the verdict to report (nil: valid; else why it was refused),
// or err when the configuration could not be read or handed over.
// Reporting is left to the caller: it takes a few writes, which a speaker
// starting among many waits seconds for, and must not hold its first
// announcement back.
func (r *Config) Load(ctx context.Context) (verdict, err error) {
	res, err := kube.ListConfig(ctx, r.Client, r.Namespace)
	if err != nil {
		return nil, err
	}
	r.Metrics.Updates.Inc()
	r.logSilenced(res.L2Advertisements)
	res.L2Advertisements = config.ForSpeakers(res.L2Advertisements, r.SpeakerSet)
	cfg, _, refused := config.Parse(res)
	if refused != nil {
		r.Metrics.UpdateErrors.Inc()
		r.Metrics.ConfigStale.Set(1)
		r.Log.Error(refused, "configuration refused; the last valid configuration stays in force")
		return refused, nil
	}
	if cfg, err = r.resolvePeers(ctx, cfg); err != nil {
		return nil, err
	}
	r.Metrics.ConfigStale.Set(0)
	r.Metrics.ConfigLoaded.Set(1)
	return nil, send(ctx, r.Out, loop.Update{Config: cfg})
}
