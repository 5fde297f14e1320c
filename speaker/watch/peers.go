package watch

import (
	"context"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironlb/ironlb/internal/kube"
)

// Joiner joins memberlist peers; *members.Members implements it.
type Joiner interface {
	Join(peers []string) (int, error)
	// Alive names the members alive now (node names).
	Alive() []string
	// MarkSettled says every speaker expected has joined: the loop may
	// announce.
	MarkSettled()
}

// DefaultRejoinInterval is how often Peers joins running speakers that
// memberlist does not count alive. memberlist alone never merges two
// sides that took each other for dead (it gossips only with members it
// thinks alive): after a network partition heals, the sides merge within
// this interval. While every running speaker is alive it costs nothing;
// a speaker that is down but whose pod still runs costs one connection
// attempt per interval.
const DefaultRejoinInterval = 10 * time.Second

// peersKey is the one request every speaker pod maps to: the reconciler
// joins all peers at once, and one key makes one rejoin timer.
const peersKey = "peers"

// Peers finds the other speakers like MetalLB's do, as the pods of the
// namespace matching the speaker labels, and joins their addresses (the
// node addresses: speakers use the host network).
type Peers struct {
	Client    client.Reader
	Namespace string
	Selector  labels.Selector
	NodeName  string
	Port      int
	Members   Joiner
	Log       logr.Logger
	// Ready, when set, holds the first join back until it is closed
	// (Initial.Done): the others hand VIPs over the moment this node joins.
	Ready <-chan struct{}
	// SettleWindow: a speaker pod created less than this long ago that has
	// not joined is one still starting, waited for before announcing (the
	// loop's settle timeout bounds the wait); an older one is taken for
	// down (its node died, its container crashes) and not waited for.
	SettleWindow time.Duration
	// Now is the apiserver's clock (kube.ServerClock; time.Now when nil):
	// pods' creation times are stamped by it, and a node's own clock may be
	// off by more than the window.
	Now func() time.Time
	// Rejoin, when positive, repeats the join of peers that are not alive
	// this often (DefaultRejoinInterval), which heals partitions.
	Rejoin time.Duration

	settled bool // only Reconcile touches it: one worker, one key
}

// SetupWithManager registers the reconciler.
func (r *Peers) SetupWithManager(mgr ctrl.Manager) error {
	toPeers := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: peersKey}}}
	})
	speakers := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Namespace && r.Selector.Matches(labels.Set(o.GetLabels()))
	})
	return ctrl.NewControllerManagedBy(mgr).Named("speaker-peers").
		Watches(&corev1.Pod{}, toPeers, builder.WithPredicates(speakers)).
		WithOptions(kube.ControllerOptions(1)).
		Complete(r)
}

// Reconcile joins every running speaker that is not an alive member yet;
// joining exchanges full state with the peer, which also heals a
// partition. With Rejoin set it comes back after that long.
func (r *Peers) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	if r.Ready != nil {
		select {
		case <-r.Ready:
		case <-ctx.Done():
			return ctrl.Result{}, ctx.Err()
		}
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(r.Namespace), client.MatchingLabelsSelector{Selector: r.Selector}); err != nil {
		return ctrl.Result{}, err
	}
	addrs := joinTargets(pods.Items, r.NodeName, r.Members.Alive(), r.Port)
	if len(addrs) > 0 {
		if n, err := r.Members.Join(addrs); err != nil {
			r.Log.Info("joining speakers", "reached", n, "of", len(addrs), "reason", err.Error())
		} else {
			r.Log.V(1).Info("joined speakers", "peers", addrs)
		}
	}
	if !r.settled {
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		missing := notJoined(pods.Items, r.NodeName, r.Members.Alive(), now().Add(-r.SettleWindow))
		if len(missing) > 0 {
			// Members joining this one trigger nothing here: look again soon.
			r.Log.V(1).Info("waiting for speakers to join before announcing", "nodes", missing)
			return ctrl.Result{RequeueAfter: settlePoll}, nil
		}
		r.settled = true
		r.Members.MarkSettled()
	}
	return ctrl.Result{RequeueAfter: r.Rejoin}, nil
}

// settlePoll is how often a starting speaker looks whether the others have
// joined it.
const settlePoll = 200 * time.Millisecond

// notJoined names the nodes of the other speaker pods still starting
// (created since startedAfter, not being deleted, not finished) whose member
// is not alive. A speaker announces only once it is empty (or the loop's
// settle timeout passes): started alone while the others are still
// starting, as in a fresh install, a GitOps re-render or a migration from
// MetalLB, it would answer for every VIP beside the speakers that own them.
func notJoined(pods []corev1.Pod, self string, alive []string, startedAfter time.Time) []string {
	var out []string
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Spec.NodeName == self || p.DeletionTimestamp != nil || p.CreationTimestamp.Time.Before(startedAfter) ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || slices.Contains(alive, p.Spec.NodeName) {
			continue
		}
		out = append(out, p.Spec.NodeName)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// joinTargets returns the memberlist addresses of the running speaker
// pods on other nodes whose member is not alive.
func joinTargets(pods []corev1.Pod, self string, alive []string, port int) []string {
	var addrs []string
	for _, p := range pods {
		if p.Spec.NodeName == self || p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning || slices.Contains(alive, p.Spec.NodeName) {
			continue
		}
		addrs = append(addrs, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)))
	}
	return addrs
}
