package kube

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestTriggerNeverDrops: requests fired before the controller starts are
// held, and however many arrive, each object reaches the work queue (once,
// however often it was asked for).
func TestTriggerNeverDrops(t *testing.T) {
	var r Trigger
	const services = 10_000 // more than any buffer a channel would get
	for i := range services {
		r.Fire(ServiceKey(fmt.Sprintf("ns/early-%d", i)))
	}
	r.Fire(ServiceKey("ns/early-0")) // a repeat
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	if err := r.Source().Start(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	for i := range services {
		r.Fire(ServiceKey(fmt.Sprintf("ns/late-%d", i)))
	}
	if got, want := q.Len(), 2*services; got != want {
		t.Fatalf("work queue holds %d requests, want %d", got, want)
	}
	seen := map[types.NamespacedName]bool{}
	for range 2 * services {
		req, _ := q.Get()
		seen[req.NamespacedName] = true
		q.Done(req)
	}
	for _, key := range []types.NamespacedName{{Namespace: "ns", Name: "early-0"}, {Namespace: "ns", Name: fmt.Sprintf("late-%d", services-1)}} {
		if !seen[key] {
			t.Errorf("%s never reached the work queue", key)
		}
	}
}
