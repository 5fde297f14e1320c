package watch

import (
	"context"
	"net"
	"strconv"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Joiner joins memberlist peers; *members.Members implements it. Join with
// no peers says there is nobody to join.
type Joiner interface {
	Join(peers []string) (int, error)
}

// Peers finds the other speakers like MetalLB's do, as the pods of the
// namespace matching the speaker labels, and joins their addresses (the
// node addresses: speakers use the host network).
type Peers struct {
	Client    client.Client
	Namespace string
	Selector  labels.Selector
	NodeName  string
	Port      int
	Members   Joiner
	Log       logr.Logger
	// Ready, when set, holds the first join back until it is closed
	// (Initial.Done): the others hand VIPs over the moment this node joins.
	Ready <-chan struct{}
}

// SetupWithManager registers the reconciler.
func (r *Peers) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("speaker-peers").
		For(&corev1.Pod{}, builderPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == r.Namespace && r.Selector.Matches(labels.Set(o.GetLabels()))
		}))...).
		Complete(r)
}

// Reconcile joins every running speaker's address; joining a member again
// costs one exchange and heals a partition.
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
	var addrs []string
	for _, p := range pods.Items {
		if p.Spec.NodeName == r.NodeName || p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning {
			continue
		}
		addrs = append(addrs, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(r.Port)))
	}
	// Even with no peer to join: the speaker waits for a first join to
	// know it is alone.
	if n, err := r.Members.Join(addrs); err != nil {
		r.Log.Info("joining speakers", "reached", n, "of", len(addrs), "reason", err.Error())
	}
	return ctrl.Result{}, nil
}
