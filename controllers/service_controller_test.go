//go:build e2e

package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/compat"
)

func readSeed(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "test", "seed", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestSeedWalkthrough replays steps 2-3 of the walkthrough with its own
// files: the pool and L2Advertisement, then svc1..3, which get .200, .201,
// .202 in creation order, the pool annotation and the IPAllocated Event as
// `kubectl describe` shows them. Then the controller restarts: no IP moves.
func TestSeedWalkthrough(t *testing.T) {
	namespace(t, "metallb-system")
	cleanupServices(t, "default")
	c := startController(t, "metallb-system")
	apply(t, readSeed(t, "metallb-config.yaml"))
	apply(t, readSeed(t, "services.yaml"))

	want := map[string]string{"svc1": "172.20.255.200", "svc2": "172.20.255.201", "svc3": "172.20.255.202"}
	for _, name := range []string{"svc1", "svc2", "svc3"} {
		svc := waitIngress(t, "default", name, want[name])
		if m := svc.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != corev1.LoadBalancerIPModeVIP {
			t.Errorf("%s ipMode = %v, want VIP", name, m)
		}
		eventually(t, name+" annotation", func() string {
			if got := getService(t, "default", name).Annotations[compat.AnnotationIPAllocatedFromPool]; got != "my-ippool" {
				return "annotation " + got
			}
			return ""
		})
		ev := waitEvent(t, "default", name, "IPAllocated", `Assigned IP ["`+want[name]+`"]`)
		if ev.Type != corev1.EventTypeNormal || ev.ReportingController != "metallb-controller" {
			t.Errorf("event %s/%s from %q, want Normal from metallb-controller", ev.Type, ev.Reason, ev.ReportingController)
		}
	}
	out, err := env.Kubectl("", "describe", "svc", "svc1", "-n", "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"metallb.io/ip-allocated-from-pool: my-ippool",
		"LoadBalancer Ingress:     172.20.255.200 (VIP)",
		`IPAllocated`, `metallb-controller`, `Assigned IP ["172.20.255.200"]`,
	} {
		if !strings.Contains(out, line) {
			t.Errorf("kubectl describe svc svc1 lacks %q:\n%s", line, out)
		}
	}
	var pool v1beta1.IPAddressPool
	eventually(t, "pool status", func() string {
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: "metallb-system", Name: "my-ippool"}, &pool); err != nil {
			return err.Error()
		}
		if pool.Status.AssignedIPv4 != 3 || pool.Status.AvailableIPv4 != 48 {
			return fmt.Sprintf("status %+v", pool.Status)
		}
		return ""
	})
	if got := gaugeValue(c.metrics.AddressesInUse.WithLabelValues("my-ippool")); got != 3 {
		t.Errorf("metallb_allocator_addresses_in_use_total{pool=my-ippool} = %v, want 3", got)
	}
	if got := gaugeValue(c.metrics.AddressesTotal.WithLabelValues("my-ippool")); got != 51 {
		t.Errorf("metallb_allocator_addresses_total{pool=my-ippool} = %v, want 51", got)
	}

	// A restarted controller rebuilds its state from the Services' status
	// before allocating: nothing moves, and the next Service gets .203.
	c.stop()
	startController(t, "metallb-system")
	create(t, lbService("default", "svc4"))
	waitIngress(t, "default", "svc4", "172.20.255.203")
	for name, ip := range want {
		if got := ingressOf(getService(t, "default", name)); got != ip {
			t.Errorf("after restart %s has %q, want %q", name, got, ip)
		}
	}
	// Deleting a Service frees its IP for the next one.
	if err := env.Client.Delete(context.Background(), getService(t, "default", "svc2")); err != nil {
		t.Fatal(err)
	}
	create(t, lbService("default", "svc5"))
	waitIngress(t, "default", "svc5", "172.20.255.201")
}

func withAnnotations(kv ...string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func withPort(port int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Ports = []corev1.ServicePort{{Name: "p", Port: port, Protocol: corev1.ProtocolTCP}}
	}
}

// TestAllocationRules covers pinned IPs, the pool annotation, sharing and
// exhaustion on the real apiserver, with the Events users see.
func TestAllocationRules(t *testing.T) {
	cfgNS := namespace(t, "ironlb-rules")
	ns := namespace(t, "rules")
	cleanupServices(t, ns)
	startController(t, cfgNS)
	apply(t, `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: main, namespace: ironlb-rules}
spec: {addresses: [192.168.10.0/30]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: reserved, namespace: ironlb-rules}
spec: {addresses: [192.168.20.10-192.168.20.11], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: spare, namespace: ironlb-rules}
spec: {addresses: [192.168.30.0/30], autoAssign: false}
`)
	t.Run("pinned IP by annotation", func(t *testing.T) {
		create(t, lbService(ns, "pinned", withAnnotations(compat.AnnotationLoadBalancerIPs, "192.168.10.3")))
		waitIngress(t, ns, "pinned", "192.168.10.3")
	})
	t.Run("pinned IP by spec.loadBalancerIP and the deprecated annotation spelling", func(t *testing.T) {
		create(t, lbService(ns, "legacy", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.168.10.2" }))
		waitIngress(t, ns, "legacy", "192.168.10.2")
		create(t, lbService(ns, "legacy-annotation", withAnnotations(compat.DeprecatedAnnotationLoadBalancerIPs, "192.168.20.11")))
		waitIngress(t, ns, "legacy-annotation", "192.168.20.11")
		waitEvent(t, ns, "legacy-annotation", "deprecatedAnnotation", "Service uses deprecated annotation metallb.universe.tf/loadBalancerIPs")
	})
	t.Run("the same IP wanted twice", func(t *testing.T) {
		create(t, lbService(ns, "thief", withAnnotations(compat.AnnotationLoadBalancerIPs, "192.168.10.3")))
		waitEvent(t, ns, "thief", "AllocationFailed", `Failed to allocate IP for "rules/thief"`)
		waitEvent(t, ns, "thief", "AllocationFailed", "held by rules/pinned")
		if got := ingressOf(getService(t, ns, "thief")); got != "" {
			t.Errorf("thief got %q", got)
		}
	})
	t.Run("IP outside every pool", func(t *testing.T) {
		create(t, lbService(ns, "outside", withAnnotations(compat.AnnotationLoadBalancerIPs, "10.99.0.1")))
		waitEvent(t, ns, "outside", "AllocationFailed", "10.99.0.1 is not in any pool")
	})
	t.Run("pool annotation reaches a pool without autoAssign", func(t *testing.T) {
		create(t, lbService(ns, "by-pool", withAnnotations(compat.AnnotationAddressPool, "reserved")))
		waitIngress(t, ns, "by-pool", "192.168.20.10")
		eventually(t, "annotation", func() string {
			if got := getService(t, ns, "by-pool").Annotations[compat.AnnotationIPAllocatedFromPool]; got != "reserved" {
				return "annotation " + got
			}
			return ""
		})
		create(t, lbService(ns, "no-pool", withAnnotations(compat.AnnotationAddressPool, "nope")))
		waitEvent(t, ns, "no-pool", "AllocationFailed", `pool "nope" requested by metallb.io/address-pool does not exist`)
	})
	t.Run("sharing", func(t *testing.T) {
		create(t, lbService(ns, "dns-tcp", withPort(53), withAnnotations(compat.AnnotationAllowSharedIP, "dns")))
		svc := waitIngress(t, ns, "dns-tcp", "192.168.10.0")
		create(t, lbService(ns, "dns-alt", withPort(5353), withAnnotations(compat.AnnotationAllowSharedIP, "dns")))
		waitIngress(t, ns, "dns-alt", ingressOf(svc))
	})
	t.Run("exhaustion, then an IP freed by a deletion goes to the waiting Service", func(t *testing.T) {
		create(t, lbService(ns, "last", withPort(81)))
		waitIngress(t, ns, "last", "192.168.10.1")
		create(t, lbService(ns, "waiting", withPort(82)))
		waitEvent(t, ns, "waiting", "AllocationFailed", `no available IPs in pool "main"`)
		if err := env.Client.Delete(context.Background(), getService(t, ns, "last")); err != nil {
			t.Fatal(err)
		}
		waitIngress(t, ns, "waiting", "192.168.10.1")
	})
	t.Run("a Service that stops being a LoadBalancer releases its IP", func(t *testing.T) {
		svc := getService(t, ns, "legacy")
		orig := svc.DeepCopy()
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		svc.Spec.LoadBalancerIP = ""
		if err := env.Client.Patch(context.Background(), svc, client.MergeFrom(orig)); err != nil {
			t.Fatal(err)
		}
		waitIngress(t, ns, "legacy", "")
		create(t, lbService(ns, "reuse", withAnnotations(compat.AnnotationLoadBalancerIPs, "192.168.10.2")))
		waitIngress(t, ns, "reuse", "192.168.10.2")
	})
	t.Run("Services of another class are left alone", func(t *testing.T) {
		other := "example.com/other"
		create(t, lbService(ns, "foreign", func(s *corev1.Service) { s.Spec.LoadBalancerClass = &other }))
		// A Service created after it shows the controller got that far.
		create(t, lbService(ns, "marker", withAnnotations(compat.AnnotationAddressPool, "spare")))
		waitIngress(t, ns, "marker", "192.168.30.0")
		if got := ingressOf(getService(t, ns, "foreign")); got != "" {
			t.Errorf("Service of class %s got %q", other, got)
		}
		if evs := eventsAbout(t, ns, "foreign"); len(evs) > 0 {
			t.Errorf("Service of another class got events: %v", evs)
		}
	})
}
