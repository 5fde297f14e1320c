package svcwatch

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(name string, ips ...string) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func TestWatchSeesChangesAndSharing(t *testing.T) {
	w := New()
	start := time.Now()
	w.Observe(svc("a"))
	w.Observe(svc("a", "10.0.0.1"))
	w.Observe(svc("b", "10.0.0.2", "fd00::2"))
	w.Observe(svc("b", "10.0.0.2", "fd00::2")) // unchanged: no change logged
	w.Observe("not a Service")
	if _, err := w.WaitAll(2, time.Second); err != nil {
		t.Fatal(err)
	}
	if w.FirstAt("ns/a").IsZero() || w.Earliest().Before(start) {
		t.Errorf("first IPs not timed: a at %v, earliest %v", w.FirstAt("ns/a"), w.Earliest())
	}
	if changed, shared := w.Violations(); len(changed)+len(shared) > 0 {
		t.Fatalf("violations before any: %v %v", changed, shared)
	}

	w.Observe(svc("c", "10.0.0.1")) // a still holds it
	w.Observe(svc("a", "10.0.0.3")) // a's IP changes after assignment
	changed, shared := w.Violations()
	if !slices.Equal(changed, []string{"ns/a: 10.0.0.1 → 10.0.0.3"}) || !slices.Equal(shared, []string{"10.0.0.1: ns/a and ns/c"}) {
		t.Errorf("Violations() = %q, %q", changed, shared)
	}
	if got := w.Changes([]string{"ns/a"}, start, time.Now()); len(got) != 1 {
		t.Errorf("Changes(a) = %q, want the one change", got)
	}
	snap := w.Snapshot()
	if snap["ns/b"] != "10.0.0.2,fd00::2" || snap["ns/a"] != "10.0.0.3" {
		t.Errorf("Snapshot() = %v", snap)
	}
	if d := Duplicates(map[string]string{"x": "1,2", "y": "2", "z": ""}); !slices.Equal(d, []string{"2"}) {
		t.Errorf("Duplicates = %v", d)
	}
	if err := w.WaitQuiet(20*time.Millisecond, time.Second); err != nil {
		t.Error(err)
	}
	if _, err := w.WaitAll(10, 50*time.Millisecond); err == nil {
		t.Error("WaitAll(10) returned with 3 Services")
	}
}
