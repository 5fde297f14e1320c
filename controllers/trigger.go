package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// trigger lets one reconciler ask another to look at some objects again,
// through a controller-runtime channel source, so the request lands in the
// other's work queue (deduplicated) instead of being handled inline.
type trigger struct {
	ch chan event.TypedGenericEvent[types.NamespacedName]
}

// triggerBuffer bounds how many requests wait for the channel source to
// move them into the work queue; senders block beyond it, which only
// happens when a burst of pool changes meets a stalled controller.
const triggerBuffer = 4096

func newTrigger() *trigger {
	return &trigger{ch: make(chan event.TypedGenericEvent[types.NamespacedName], triggerBuffer)}
}

// fire enqueues the keys; it never runs with State.mu held.
func (t *trigger) fire(ctx context.Context, keys ...types.NamespacedName) {
	for _, k := range keys {
		select {
		case t.ch <- event.TypedGenericEvent[types.NamespacedName]{Object: k}:
		case <-ctx.Done():
			return
		}
	}
}

func (t *trigger) source() source.Source {
	return source.Channel(t.ch, handler.TypedEnqueueRequestsFromMapFunc(
		func(_ context.Context, k types.NamespacedName) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: k}}
		}))
}
