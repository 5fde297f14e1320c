//go:build e2e

package status

import (
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
)

// TestPartitionKeepsBothThenWinner replays a partition against a real
// apiserver: node a announces; b, cut off from a, takes over and removes
// a's status; a, still announcing, writes its own again (its watch saw the
// delete) without removing b's, so both show while both announce, and
// nobody deletes anybody in a loop; when the partition heals b stops and
// a's status alone remains. (That a's delete reaches a's Reconcile is
// the watch SetupWithManager adds; test/chaos's partition shows it: before
// it, a's status stayed deleted and no status was left after the heal.)
func TestPartitionKeepsBothThenWinner(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "l2")
	svc := types.NamespacedName{Namespace: "default", Name: "svc1"}
	node := func(name string) *L2 {
		s := &L2{Client: env.Client, Namespace: ns, NodeName: name, Recorder: events.NewFakeRecorder(100)}
		s.init()
		return s
	}
	a, b := node("a"), node("b")
	reconcile := func(s *L2) {
		t.Helper()
		if _, err := s.Reconcile(ctx, ctrl.Request{NamespacedName: svc}); err != nil {
			t.Fatalf("%s: %v", s.NodeName, err)
		}
	}
	nodes := func() []string {
		t.Helper()
		var list v1beta1.ServiceL2StatusList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range list.Items {
			out = append(out, st.Status.Node)
		}
		slices.Sort(out)
		return out
	}
	expect := func(step string, want ...string) {
		t.Helper()
		if got := nodes(); !slices.Equal(got, want) {
			t.Errorf("%s: statuses on %v, want %v", step, got, want)
		}
	}

	a.Announcing(svc.String(), []string{"eth0"})
	reconcile(a)
	expect("a announces", "a")

	b.Announcing(svc.String(), []string{"eth0"})
	reconcile(b)
	expect("b takes over", "b")

	reconcile(a) // a's watch: its status was deleted
	expect("a still announces", "a", "b")
	reconcile(b) // b's own status unchanged: b deletes nothing
	reconcile(a)
	expect("both announce, reconciled again", "a", "b")

	b.NotAnnouncing(svc.String())
	reconcile(b)
	expect("healed: b stops", "a")
}
