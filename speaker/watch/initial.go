package watch

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Initial hands the loop the whole cluster state once, as soon as the
// caches have synced, and then closes Done. Peers joins memberlist only
// after that: the others drop the VIPs they hand to this node the moment
// it joins, so it must already know its Services, Nodes and configuration
// to announce them at once. The watchers' own events repeat some of these
// updates later; the loop takes them idempotently.
type Initial struct {
	Cache    cache.Cache
	Client   client.Client
	Services *Services
	Nodes    *Nodes
	Config   *Config

	done chan struct{}
}

// NewInitial returns an Initial whose Done is open until Start has sent
// everything.
func NewInitial(c cache.Cache, cl client.Client, s *Services, n *Nodes, cfg *Config) *Initial {
	return &Initial{Cache: c, Client: cl, Services: s, Nodes: n, Config: cfg, done: make(chan struct{})}
}

// Done is closed once the initial state is with the loop.
func (i *Initial) Done() <-chan struct{} { return i.done }

// Start sends the initial state and returns; a manager runs it.
func (i *Initial) Start(ctx context.Context) error {
	if !i.Cache.WaitForCacheSync(ctx) {
		return errors.New("initial sync: caches did not sync")
	}
	verdict, err := i.Config.Load(ctx)
	if err != nil {
		return fmt.Errorf("initial sync: configuration: %w", err)
	}
	var nodes corev1.NodeList
	if err := i.Client.List(ctx, &nodes); err != nil {
		return fmt.Errorf("initial sync: listing Nodes: %w", err)
	}
	for _, n := range nodes.Items {
		if _, err := i.Nodes.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: n.Name}}); err != nil {
			return fmt.Errorf("initial sync: Node %s: %w", n.Name, err)
		}
	}
	var svcs corev1.ServiceList
	if err := i.Client.List(ctx, &svcs); err != nil {
		return fmt.Errorf("initial sync: listing Services: %w", err)
	}
	for _, s := range svcs.Items {
		req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}}
		if _, err := i.Services.Reconcile(ctx, req); err != nil {
			return fmt.Errorf("initial sync: Service %s: %w", req.NamespacedName, err)
		}
	}
	close(i.done)
	// Reported after Done, so that Peers joins without waiting for it.
	i.Config.reportState(ctx, verdict)
	return nil
}
