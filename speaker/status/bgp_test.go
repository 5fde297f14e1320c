//go:build e2e

package status

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/compat"
)

// namespace creates a namespace of its own for a test, standing for the
// release namespace.
func namespace(t *testing.T, name string) string {
	t.Helper()
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestBGPStatusPerNodeListsPeers: every advertising node keeps its own
// ServiceBGPStatus with the peers, named and labelled like MetalLB's; a
// change of peers updates it in place, and a node that stops deletes its
// own and nobody else's. Its first status sends nodeAssigned with protocol
// "bgp" on the Service.
func TestBGPStatusPerNodeListsPeers(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "bgp")
	svcNS := namespace(t, "apps")
	svcObj := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: svcNS, Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := env.Client.Create(ctx, svcObj); err != nil {
		t.Fatal(err)
	}
	svc := types.NamespacedName{Namespace: svcNS, Name: "web"}
	recorders := map[string]*events.FakeRecorder{}
	node := func(name string) *BGP {
		recorders[name] = events.NewFakeRecorder(10)
		s := &BGP{Client: env.Client, Namespace: ns, NodeName: name, Recorder: recorders[name]}
		s.init()
		return s
	}
	a, b := node("a"), node("b")
	reconcile := func(s *BGP) {
		t.Helper()
		if _, err := s.Reconcile(ctx, ctrl.Request{NamespacedName: svc}); err != nil {
			t.Fatalf("%s: %v", s.NodeName, err)
		}
	}
	statuses := func() map[string]v1beta1.ServiceBGPStatus {
		t.Helper()
		var list v1beta1.ServiceBGPStatusList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		out := map[string]v1beta1.ServiceBGPStatus{}
		for _, st := range list.Items {
			out[st.Status.Node] = st
		}
		return out
	}
	expect := func(step string, want map[string][]string) {
		t.Helper()
		got := statuses()
		if len(got) != len(want) {
			t.Errorf("%s: statuses of nodes %v, want %v", step, keys(got), want)
		}
		for n, peers := range want {
			st, ok := got[n]
			if !ok {
				t.Errorf("%s: no status of node %s", step, n)
				continue
			}
			if !slices.Equal(st.Status.Peers, peers) || st.Status.ServiceName != "web" || st.Status.ServiceNamespace != svcNS {
				t.Errorf("%s: node %s: status %+v, want peers %v of %s", step, n, st.Status, peers, svc)
			}
			if st.Labels[compat.LabelAnnounceNode] != n || st.Labels[compat.LabelServiceName] != "web" ||
				st.Labels[compat.LabelServiceNamespace] != svcNS || st.GenerateName != "bgp-" {
				t.Errorf("%s: node %s: name %s labels %v, want bgp-… with node and service labels", step, n, st.Name, st.Labels)
			}
		}
	}

	a.Advertising(svc.String(), []string{"tor1", "tor2"})
	b.Advertising(svc.String(), []string{"tor1"})
	reconcile(a)
	reconcile(b)
	expect("both advertise", map[string][]string{"a": {"tor1", "tor2"}, "b": {"tor1"}})
	for _, n := range []string{"a", "b"} {
		select {
		case e := <-recorders[n].Events:
			if want := `Normal nodeAssigned announcing from node "` + n + `" with protocol "bgp"`; e != want {
				t.Errorf("event %q, want %q", e, want)
			}
		default:
			t.Errorf("node %s sent no nodeAssigned event", n)
		}
	}

	name := statuses()["a"].Name
	a.Advertising(svc.String(), []string{"tor2"})
	reconcile(a)
	expect("a's peers change", map[string][]string{"a": {"tor2"}, "b": {"tor1"}})
	if got := statuses()["a"].Name; got != name {
		t.Errorf("a's status replaced (%s → %s), want updated in place", name, got)
	}
	select {
	case e := <-recorders["a"].Events:
		t.Errorf("event on a change of peers: %q", e)
	default:
	}

	a.NotAdvertising(svc.String())
	reconcile(a)
	expect("a stops", map[string][]string{"b": {"tor1"}})
	b.NotAdvertising(svc.String())
	reconcile(b)
	expect("b stops", map[string][]string{})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
