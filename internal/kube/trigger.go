package kube

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Trigger asks a controller, from outside its reconcile loop, to look at
// some objects again: another reconciler, or the speaker's failover path.
// Fire never blocks and never drops a request: it adds to the controller's
// work queue, which is unbounded and merges repeats of an object, and
// requests fired before the controller started are held until it does.
// The zero value is ready to use; Source goes to WatchesRawSource.
type Trigger struct {
	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request] // nil until the controller starts
	pending map[types.NamespacedName]bool
}

// Fire requests a reconcile of each key.
func (t *Trigger) Fire(keys ...types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, key := range keys {
		if t.queue != nil {
			t.queue.Add(reconcile.Request{NamespacedName: key})
			continue
		}
		if t.pending == nil {
			t.pending = map[types.NamespacedName]bool{}
		}
		t.pending[key] = true
	}
}

// Source is the controller's source of the fired requests.
func (t *Trigger) Source() source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.queue = q
		for key := range t.pending {
			q.Add(reconcile.Request{NamespacedName: key})
		}
		t.pending = nil
		return nil
	})
}
