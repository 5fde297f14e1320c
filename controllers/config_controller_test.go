//go:build e2e

package controllers

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/api/v1beta1"
)

// TestInvalidConfigurationKeepsLastValid: an overlapping pool that got past
// admission (webhook off) is reported on the object and in the metrics;
// allocation goes on with the last valid configuration and no IP moves.
func TestInvalidConfigurationKeepsLastValid(t *testing.T) {
	cfgNS := namespace(t, "ironlb-invalid")
	ns := namespace(t, "invalid")
	cleanupServices(t, ns)
	c := startController(t, cfgNS)
	apply(t, `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: good, namespace: ironlb-invalid}
spec: {addresses: [10.20.0.0/29]}
`)
	create(t, lbService(ns, "before"))
	waitIngress(t, ns, "before", "10.20.0.0")

	apply(t, `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: overlapping, namespace: ironlb-invalid}
spec: {addresses: [10.20.0.4-10.20.0.20]}
`)
	waitEvent(t, cfgNS, "overlapping", "InvalidConfiguration", `IPAddressPool "overlapping": spec.addresses: 10.20.0.4-10.20.0.20 overlaps 10.20.0.0-10.20.0.7 of IPAddressPool "good"`)
	eventually(t, "config_stale metric", func() string {
		if gaugeValue(c.metrics.Client.ConfigStale) != 1 || gaugeValue(c.metrics.Client.ConfigLoaded) != 1 {
			return "stale/loaded not 1/1"
		}
		return ""
	})
	create(t, lbService(ns, "during"))
	waitIngress(t, ns, "during", "10.20.0.1")
	if got := ingressOf(getService(t, ns, "before")); got != "10.20.0.0" {
		t.Errorf("existing Service moved to %q", got)
	}

	if err := env.Client.Delete(context.Background(), &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: cfgNS, Name: "overlapping"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "config_stale back to 0", func() string {
		if gaugeValue(c.metrics.Client.ConfigStale) != 0 {
			return "stale"
		}
		return ""
	})
}

// TestShrunkPoolKeepsServiceWorking: when a Service's IP leaves every pool
// it keeps the IP and gets a Warning, and nobody else is given the IP.
func TestShrunkPoolKeepsServiceWorking(t *testing.T) {
	cfgNS := namespace(t, "ironlb-shrink")
	ns := namespace(t, "shrink")
	cleanupServices(t, ns)
	startController(t, cfgNS)
	pool := `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: shrinking, namespace: ironlb-shrink}
spec: {addresses: [%s]}
`
	apply(t, sprintf(pool, "10.30.0.0-10.30.0.3"))
	create(t, lbService(ns, "a"))
	waitIngress(t, ns, "a", "10.30.0.0")
	apply(t, sprintf(pool, "10.30.0.1-10.30.0.3"))
	waitEvent(t, ns, "a", "IPNotInPool", `IP ["10.30.0.0"] is no longer in any IPAddressPool`)
	create(t, lbService(ns, "b"))
	waitIngress(t, ns, "b", "10.30.0.1")
	if got := ingressOf(getService(t, ns, "a")); got != "10.30.0.0" {
		t.Errorf("Service whose IP left the pool now has %q, want it kept", got)
	}
	var p v1beta1.IPAddressPool
	eventually(t, "pool counts only its own addresses", func() string {
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: cfgNS, Name: "shrinking"}, &p); err != nil {
			return err.Error()
		}
		if p.Status.AssignedIPv4 != 1 || p.Status.AvailableIPv4 != 2 {
			return sprintf("status %+v", p.Status)
		}
		return ""
	})
}
