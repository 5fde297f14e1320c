//go:build e2e

package chaos

import (
	"testing"
	"time"
)

// apiServerGrace is how long kube-apiserver may drain before it is
// SIGKILLed; kubelet gives a static pod 30 s, but with watches open the
// apiserver drains for its request timeout (60 s), which would only make
// the test longer.
const apiServerGrace = 5 * time.Second

// resumeLimit bounds the wait, from the apiserver answering again, for a
// new Service's IP: a loose guard, 5 times the 5 s target (issue 22). The
// informers' patient list-watch asks again at least every second while the
// apiserver is down (kube.PatientListWatch); before it, client-go's
// backoff made this 45 s after a 30 s outage.
const resumeLimit = 25 * time.Second

// testAPIServerRestart stops kube-apiserver (SIGTERM, SIGKILL after
// apiServerGrace; etcd keeps running), keeps it down for -hold and starts
// it again: announcements go on, and once the controller
// works again (a new Service gets an IP) every VIP is what it was.
func testAPIServerRestart(t *testing.T, l *lab) {
	c := l.c
	before := l.ips(t)
	t0 := time.Now()
	killed, err := c.Env.StopAPIServer(apiServerGrace)
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(*flagHold)
	if err := c.Env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	l.createService(t, "after-apiserver-restart", resumeLimit)
	newIP := time.Since(up)
	l.waitSettled(t, "after the apiserver restart")
	w := l.window(t, t0, before)
	t.Logf(`apiserver restart: kube-apiserver stopped (SIGTERM, etcd kept) for %s, started again

| figure | value |
|---|---|
| SIGTERM → stopped (SIGKILL needed after %s) | %.1f s (%v) |
| stopped → healthy again (down %s, then start) | %.1f s |
| %s (stop → settled) | %s |
| longest time a VIP went without any ARP reply (probes every 20 ms) | %s |
| HTTP probes lost / sent | %d / %d |
| apiserver up → a new Service has an IP | %.2f s |
| VIPs changed (before vs after) / status changes watched meanwhile | %d of %d / %d |
`, *flagHold, apiServerGrace, stopped.Sub(t0).Seconds(), killed, *flagHold, up.Sub(stopped).Seconds(),
		lossHeader, w.arp.cell(), w.longestGap, w.httpLost, w.httpSent, newIP.Seconds(), w.changed, len(before), len(w.statusChanges))
	w.requireNothingLost(t)
}
