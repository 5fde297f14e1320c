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
	"github.com/ironlb/ironlb/test/probe"
)

// reportLimit bounds the wait for the binaries to report a configuration
// change; they react in well under a second.
const reportLimit = 30 * time.Second

// badPool overlaps the lab's pool (10.250.0.200-250): each object is
// valid alone, so only the cross-object check, which the webhook does and
// the lab has turned off, refuses it.
const badPool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: chaos-bad, namespace: metallb-system}
spec: {addresses: [%s]}
`

// testInvalidConfig applies an invalid configuration past the webhook:
// the controller and every speaker keep the last valid one and say so
// (metallb_k8s_client_config_stale_bool = 1, a Warning Event on the
// object), no VIP is withdrawn or changed; fixing it brings stale back to 0.
func testInvalidConfig(t *testing.T, l *lab) {
	c := l.c
	before := l.ips(t)
	t0 := time.Now()
	if _, err := c.Env.Kubectl(fmt.Sprintf(badPool, "10.250.0.240-10.250.0.245"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	reported := waitStale(t, l, 1)
	event := waitEvent(t, l, "chaos-bad", compat.ReasonInvalidConfiguration)
	time.Sleep(*flagHold)

	// Fixed: the pool moves to addresses of its own.
	if _, err := c.Env.Kubectl(fmt.Sprintf(badPool, "10.250.1.0/28"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	cleared := waitStale(t, l, 0)
	l.waitSettled(t, "after the configuration was fixed")
	end := time.Now()
	after := l.ips(t)
	changed := changedIPs(before, after)
	watched := l.statuses.changes(l.names, t0, end)
	sa, fa, la, lost := l.arpLoss(t0, end)
	sh, lh := l.probes.count(probe.HTTP, t0, end)
	t.Logf(`invalid configuration past the webhook (IPAddressPool chaos-bad overlapping the lab's pool), held %s, then fixed

| figure | value |
|---|---|
| apply → config_stale_bool = 1 on the controller and every speaker | %.2f s |
| Warning Event on IPAddressPool chaos-bad | %s |
| ARP probes unanswered (no reply within 1 s) / late (reply after 20 ms) / sent (apply → fixed and settled) | %d / %d / %d |
| longest time a VIP went without any ARP reply (probes every 20 ms) | %s |
| HTTP probes lost / sent | %d / %d |
| VIPs changed (before vs after) / status changes watched meanwhile | %d of %d / %d |
| fix → config_stale_bool = 0 everywhere | %.2f s |
`, *flagHold, reported.Seconds(), event, la, fa-la, sa, l.longestGapAll(t0, end), lh, sh, changed, len(before), len(watched), cleared.Seconds())
	if la > 0 {
		t.Errorf("ARP probes unanswered: %v", lost)
	}
	if len(watched) > 0 {
		t.Errorf("the probed Services' status changed: %v", watched)
	}
	if changed > 0 {
		t.Errorf("VIPs changed: before %v, after %v", before, after)
	}
	if _, err := c.Env.Kubectl("", "delete", "ipaddresspool", "-n", l2lab.Namespace, "chaos-bad"); err != nil {
		t.Error(err)
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
