//go:build e2e

package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/test/l2lab"
)

// reportLimit bounds the wait for the binaries to report a configuration
// change; they react in well under a second.
const reportLimit = 30 * time.Second

// badConfigs are invalid configurations the CRDs' schemas let through and
// the webhook, which the lab has turned off, would refuse: one only the
// cross-object checks catch, one an advertisement's own field; each with
// the valid object that fixes it. (An advertisement naming a pool that
// does not exist is not one: it is a warning, as the pool may come later.)
var badConfigs = []struct {
	what, kind, name string
	bad, fixed       string
}{
	{
		what: "an IPAddressPool overlapping the lab's pool (10.250.0.200-250)",
		kind: "ipaddresspool", name: "chaos-bad",
		bad: `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: chaos-bad, namespace: metallb-system}
spec: {addresses: [10.250.0.240-10.250.0.245]}
`,
		// Fixed: the pool moves to addresses of its own.
		fixed: `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: chaos-bad, namespace: metallb-system}
spec: {addresses: [10.250.1.0/28]}
`,
	},
	{
		what: "an L2Advertisement of the lab's pool on an interface name Linux cannot have",
		kind: "l2advertisement", name: "chaos-bad-interface",
		bad: `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: chaos-bad-interface, namespace: metallb-system}
spec: {ipAddressPools: [my-ippool], interfaces: ["eth0/uplink"]}
`,
		fixed: `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: chaos-bad-interface, namespace: metallb-system}
spec: {ipAddressPools: [my-ippool], interfaces: [eth0]}
`,
	},
}

// testInvalidConfig applies each invalid configuration past the webhook:
// the controller and every speaker keep the last valid one and say so
// (metallb_k8s_client_config_stale_bool = 1, a Warning Event on the
// object), no VIP is withdrawn or changed; fixing it brings stale back to 0.
func testInvalidConfig(t *testing.T, l *lab) {
	for _, bc := range badConfigs {
		t.Run(bc.name, func(t *testing.T) {
			c := l.c
			before := l.ips(t)
			t0 := time.Now()
			if _, err := c.Env.Kubectl(bc.bad, "apply", "-f", "-"); err != nil {
				t.Fatal(err)
			}
			reported := waitStale(t, l, 1)
			event := waitEvent(t, l, bc.name, compat.ReasonInvalidConfiguration)
			time.Sleep(*flagHold)
			if _, err := c.Env.Kubectl(bc.fixed, "apply", "-f", "-"); err != nil {
				t.Fatal(err)
			}
			cleared := waitStale(t, l, 0)
			l.waitSettled(t, "after the configuration was fixed")
			w := l.window(t, t0, before)
			t.Logf(`invalid configuration past the webhook: %s, held %s, then fixed

| figure | value |
|---|---|
| apply → config_stale_bool = 1 on the controller and every speaker | %.2f s |
| Warning Event on %s %s | %s |
| %s (apply → fixed and settled) | %s |
| longest time a VIP went without any ARP reply (probes every 20 ms) | %s |
| HTTP probes lost / sent | %d / %d |
| VIPs changed (before vs after) / status changes watched meanwhile | %d of %d / %d |
| fix → config_stale_bool = 0 everywhere | %.2f s |
`, bc.what, *flagHold, reported.Seconds(), bc.kind, bc.name, event, lossHeader, w.arp.cell(), w.longestGap,
				w.httpLost, w.httpSent, w.changed, len(before), len(w.statusChanges), cleared.Seconds())
			w.requireNothingLost(t)
			if _, err := c.Env.Kubectl("", "delete", bc.kind, "-n", l2lab.Namespace, bc.name); err != nil {
				t.Error(err)
			}
		})
	}
}

// waitStale waits until the controller and every speaker export
// metallb_k8s_client_config_stale_bool = want, and returns how long it took.
func waitStale(t *testing.T, l *lab, want float64) time.Duration {
	t.Helper()
	start := time.Now()
	urls := []string{l.c.MetricsURL("")}
	for _, n := range l.c.Nodes {
		urls = append(urls, l.c.MetricsURL(n))
	}
	var why string
	for time.Since(start) < reportLimit {
		why = ""
		for _, u := range urls {
			v, err := scrape(u, "metallb_k8s_client_config_stale_bool")
			if err != nil || v != want {
				why = fmt.Sprintf("%s: %v %v", u, v, err)
				break
			}
		}
		if why == "" {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("config_stale_bool not %v everywhere after %s: %s", want, reportLimit, why)
	return 0
}

// waitEvent waits for an Event with the reason on the named object in the
// IronLB namespace and returns its note.
func waitEvent(t *testing.T, l *lab, name, reason string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(l.c.Env.Config)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < reportLimit {
		list, err := cs.EventsV1().Events(l2lab.Namespace).List(context.Background(), metav1.ListOptions{})
		if err == nil {
			for _, e := range list.Items {
				if e.Regarding.Name == name && e.Reason == reason {
					return e.Type + " " + e.Reason + `: "` + strings.TrimSpace(e.Note) + `"`
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s Event on %s after %s", reason, name, reportLimit)
	return ""
}
