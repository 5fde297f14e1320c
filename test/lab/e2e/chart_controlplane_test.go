//go:build e2e

package lab

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Issue 22's targets. Each test's own bound is a loose guard (5×); the
// figures are printed beside the targets.
const (
	// Services created after the leading controller's node dies get IPs
	// within haTarget of the kill.
	haTarget = 10 * time.Second
	// After an apiserver restart a new Service has its IP within apiTarget
	// of the apiserver answering again.
	apiTarget = 5 * time.Second
	// apiDown is how long the apiserver stays down: under the lab's 20 s
	// node-monitor grace, so that nodes going NotReady when it returns is
	// not a second fault in the same test.
	apiDown = 15 * time.Second
	// endpointsLimit bounds the wait for every new Service to be answered
	// after the apiserver returns. A speaker announces a Service only once
	// it has a ready endpoint, and kube-controller-manager writes the
	// EndpointSlices of the Services created meanwhile only ~20-30 s after
	// the apiserver returns (CI once waited longer than 25 s, the earlier
	// bound). The speaker's own part, answered ≤ 1 s after the IP and a
	// ready endpoint, is checked from the table.
	endpointsLimit = 90 * time.Second
)

// controllerNodeKilled: with the release's two controller replicas on two
// workers, the leader's node is killed as a node loses power (link down,
// every process SIGKILLed) while a client creates a Service every second,
// from 2 s before the kill to 14 s after. The standby leads, every Service
// gets an IP, none changes and each is announced; the times are printed
// from the kill.
func controllerNodeKilled(t *testing.T, ctx context.Context, seed map[string]string) {
	leaderPod, node := controllerLeader(t, ctx)
	if node == theLab.st.Plan.Nodes[0].Name {
		t.Fatalf("the leading controller %s runs on %s, the control plane: killing it would kill the apiserver", leaderPod, node)
	}
	c := startSvcClient(t, ctx, "ha")
	n := 0
	for range 2 {
		c.create(fmt.Sprintf("ha-%d", n))
		n++
		time.Sleep(time.Second)
	}

	killed := time.Now()
	if err := theLab.st.StopNode(node, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	restarted := false
	restart := func() {
		if restarted {
			return
		}
		restarted = true
		if err := theLab.st.StartNode(node); err != nil {
			t.Errorf("starting %s again: %v", node, err)
			return
		}
		if err := poll(90*time.Second, func() error { return nodeReady(ctx, node, true) }); err != nil {
			t.Errorf("after starting %s again: %v", node, err)
		}
	}
	t.Cleanup(restart)

	for k := time.Duration(0); k < 14*time.Second; k += time.Second {
		time.Sleep(time.Until(killed.Add(k)))
		if !c.create(fmt.Sprintf("ha-%d", n)) {
			t.Errorf("creating ha-%d %.1f s after the kill failed", n, time.Since(killed).Seconds())
		}
		n++
	}
	if err := c.waitAll(5 * haTarget); err != nil {
		t.Errorf("after the kill: %v", err)
	}
	c.halt()

	newLeader, newNode, acquired, err := leaseHolder(ctx)
	if err != nil {
		t.Error(err)
	}
	if newLeader == leaderPod {
		t.Errorf("the Lease still names %s, whose node was killed", leaderPod)
	}
	// The figure: when the last of the Services created while no replica
	// led got its IP, from the kill.
	var worst, longest time.Duration
	for _, s := range c.services() {
		if s.ip.IsZero() || !s.created.After(killed) {
			continue
		}
		longest = max(longest, s.ip.Sub(s.created))
		if s.created.Before(acquired) {
			worst = max(worst, s.ip.Sub(killed))
		}
	}
	t.Logf(`the leading controller's node %s killed at 0 (leader %s); %s on %s leads since %+.2f s (the Lease's acquireTime)

%s

Services created while no replica led: the last got its IP %.2f s after the kill (target ≤ %s: %s); longest wait, created → IP: %.2f s`,
		node, leaderPod, newLeader, newNode, acquired.Sub(killed).Seconds(), c.table(killed), worst.Seconds(), haTarget, verdict(worst, haTarget), longest.Seconds())
	if worst > 5*haTarget {
		t.Errorf("a Service created while no replica led got its IP %.2f s after the kill (guard %s)", worst.Seconds(), 5*haTarget)
	}
	checkSeedKept(t, ctx, seed)
	checkUnique(t, c, seed)
	restart()
}

// apiserverKilled: kube-apiserver is SIGKILLed and started again 15 s
// later while a client creates a Service and deletes the oldest one every
// second, and another requests svc1 every 50 ms. Once the apiserver
// answers, the first Service created gets its IP and is announced; the
// seed's IPs and every Service's stay as they were.
func apiserverKilled(t *testing.T, ctx context.Context, seed map[string]string) {
	cp := theLab.st.Plan.Nodes[0].Name
	// The webpods restarted with the node of the previous fault: begin
	// once both serve again, so that only this fault is measured.
	if err := poll(2*time.Minute, func() error {
		d, err := theLab.cs.AppsV1().Deployments("default").Get(ctx, "webpod", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != *d.Spec.Replicas {
			return fmt.Errorf("webpod: %d of %d ready", d.Status.ReadyReplicas, *d.Spec.Replicas)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	probe := startProbe(clientNetns(t), seed["svc1"]+":80")
	c := startSvcClient(t, ctx, "api")
	n := 0
	client := func(until time.Time) {
		for time.Now().Before(until) {
			next := time.Now().Add(time.Second)
			if c.create(fmt.Sprintf("api-%d", n)) {
				n++
			}
			if n > 3 {
				c.remove()
			}
			time.Sleep(time.Until(next))
		}
	}
	client(time.Now().Add(4 * time.Second))

	killed := time.Now()
	if err := theLab.st.KillDaemon(cp, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	started := false
	t.Cleanup(func() {
		if !started {
			_ = theLab.st.StartDaemon(cp, "kube-apiserver")
		}
	})
	client(killed.Add(apiDown))
	if err := theLab.st.StartDaemon(cp, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	started = true
	var healthy time.Time
	if err := poll(2*time.Minute, func() error {
		_, err := theLab.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		healthy = time.Now()
		return err
	}); err != nil {
		t.Fatalf("the apiserver is not ready again: %v", err)
	}
	client(healthy.Add(8 * time.Second))
	if err := c.waitAll(endpointsLimit); err != nil {
		t.Errorf("after the apiserver came back: %v", err)
	}
	c.halt()
	pr := probe()

	// The first Service created once the apiserver answered, and how long
	// after their IP and their endpoints the new Services were answered.
	var first *clientService
	var afterIP, afterEndpoints time.Duration
	for _, s := range c.services() {
		if !s.created.After(healthy) {
			continue
		}
		if first == nil {
			first = &s
		}
		if s.arped.IsZero() {
			continue
		}
		afterIP = max(afterIP, s.arped.Sub(s.ip))
		if !s.endpoints.IsZero() {
			afterEndpoints = max(afterEndpoints, s.arped.Sub(later(s.ip, s.endpoints)))
		}
	}
	if first == nil || first.ip.IsZero() {
		t.Fatalf("no Service created after the apiserver came back got an IP\n%s", c.table(killed))
	}
	toIP := first.ip.Sub(healthy)
	t.Logf(`kube-apiserver SIGKILLed at 0, started again at %+.2f s, ready at %+.2f s

%s

the first Service created after that (%s): IP %.2f s after the apiserver was ready (target ≤ %s: %s)
Services created after that: answered at most %.2f s after their IP (target ≤ 1 s: %s); at most %.2f s after both their IP and a ready endpoint (kube-controller-manager writes the EndpointSlice; a speaker announces only a Service with a ready endpoint, as MetalLB's does)
svc1 requested every 50 ms throughout: %d answered, %d failed (at %s), longest gap %v (target: 0 failed)`,
		apiDown.Seconds(), healthy.Sub(killed).Seconds(), c.table(killed), first.name, toIP.Seconds(), apiTarget, verdict(toIP, apiTarget),
		afterIP.Seconds(), verdict(afterIP, time.Second), afterEndpoints.Seconds(), pr.ok, pr.failed, pr.failures(killed), pr.gap.Round(time.Millisecond))
	if toIP > 5*apiTarget {
		t.Errorf("the first new Service got its IP %.2f s after the apiserver was ready (guard %s)", toIP.Seconds(), 5*apiTarget)
	}
	if afterEndpoints > 5*time.Second {
		t.Errorf("a new Service was answered %.2f s after its IP and a ready endpoint (guard 5 s; target 1 s)", afterEndpoints.Seconds())
	}
	checkSeedKept(t, ctx, seed)
	checkUnique(t, c, seed)
	// The kubelets' heartbeats stopped reaching the apiserver meanwhile,
	// and kube-controller-manager may still mark a node NotReady for a
	// moment; the tests after this one start from a steady cluster.
	if err := nodesSteady(ctx, nodeSteadyFor, 3*time.Minute); err != nil {
		t.Fatalf("after the apiserver came back: %v", err)
	}
}

// nodeSteadyFor is longer than the lab's 20 s node-monitor grace period:
// a node whose heartbeats were missed goes NotReady within it.
const nodeSteadyFor = 25 * time.Second

// nodesSteady waits until every node has been Ready for a whole window.
func nodesSteady(ctx context.Context, window, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	since := time.Now()
	for time.Now().Before(deadline) {
		if err := allNodesReady(ctx); err != nil {
			since = time.Now()
		} else if time.Since(since) >= window {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the nodes were not all Ready for %s within %s: %s", window, limit, nodeStates(ctx))
}

func verdict(got, target time.Duration) string {
	if got <= target {
		return "met"
	}
	return "MISSED"
}

// checkSeedKept: svc1..3 hold the IPs they held before the fault.
func checkSeedKept(t *testing.T, ctx context.Context, seed map[string]string) {
	t.Helper()
	after := waitExternalIPs(t, ctx, "svc1", "svc2", "svc3")
	for svc, ip := range seed {
		if after[svc] != ip {
			t.Errorf("%s: EXTERNAL-IP %s before the fault, %s after", svc, ip, after[svc])
		}
	}
}

// controllerLeader is the controller pod the release's Lease names, and
// its node.
func controllerLeader(t *testing.T, ctx context.Context) (pod, node string) {
	t.Helper()
	err := poll(time.Minute, func() error {
		var err error
		pod, node, _, err = leaseHolder(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pod, node
}

func leaseHolder(ctx context.Context) (pod, node string, acquired time.Time, err error) {
	l, err := theLab.cs.CoordinationV1().Leases(releaseNS).Get(ctx, releaseName+"-controller", metav1.GetOptions{})
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("the controller's Lease: %w", err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return "", "", time.Time{}, fmt.Errorf("the controller's Lease names no holder")
	}
	pod = *l.Spec.HolderIdentity
	if l.Spec.AcquireTime != nil {
		acquired = l.Spec.AcquireTime.Time
	}
	p, err := theLab.cs.CoreV1().Pods(releaseNS).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("the Lease holder %s: %w", pod, err)
	}
	return pod, p.Spec.NodeName, acquired, nil
}
