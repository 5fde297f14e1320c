//go:build e2e

package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Issue 22's target: Services created after the leading controller's node
// dies get their IPs within 10 s of the kill. The test's own bound is the
// loose guard; the figure is printed beside the target.
const (
	haTarget = 10 * time.Second
	haGuard  = 5 * haTarget
	// haBefore and haAfter: Services are created one a second from
	// haBefore before the kill to haAfter after it.
	haBefore = 2 * time.Second
	haAfter  = 14 * time.Second
)

// haService is one Service the client created, and what it saw of it.
type haService struct {
	name               string
	created, ip, arped time.Time
	addr               string
}

// controllerNodeKilled: with the release's two controller replicas on two
// workers, the leader's node is killed as a node loses power (link down,
// every process SIGKILLed) while a client creates a Service every second.
// The standby leads, every Service gets an IP, none changes, and each is
// announced; the times are printed from the kill.
func controllerNodeKilled(t *testing.T, ctx context.Context, before map[string]string) {
	leaderPod, node := controllerLeader(t, ctx)
	if node == theLab.st.Plan.Nodes[0].Name {
		t.Fatalf("the leading controller %s runs on %s, the control plane: killing it would kill the apiserver", leaderPod, node)
	}
	t.Logf("leader %s on %s", leaderPod, node)

	var (
		mu   sync.Mutex
		svcs []*haService
	)
	t.Cleanup(func() {
		_, _ = kubectl("delete", "svc", "-l", "ironlb-e2e=ha", "--wait=false")
	})
	create := func(i int) {
		s := &haService{name: fmt.Sprintf("ha-%d", i), created: time.Now()}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: map[string]string{"ironlb-e2e": "ha"}},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeLoadBalancer,
				Selector: map[string]string{"app": "webpod"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}},
			},
		}
		if _, err := theLab.cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Errorf("creating Service %s: %v", s.name, err)
			return
		}
		mu.Lock()
		svcs = append(svcs, s)
		mu.Unlock()
	}

	// The client: a Service a second, its IP watched every 50 ms, each IP
	// asked for by ARP until a node answers.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var watchers sync.WaitGroup
	watchers.Add(1)
	go func() {
		defer watchers.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-tick.C:
			}
			list, err := theLab.cs.CoreV1().Services("default").List(watchCtx, metav1.ListOptions{LabelSelector: "ironlb-e2e=ha"})
			if err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			for _, item := range list.Items {
				i := slices.IndexFunc(svcs, func(s *haService) bool { return s.name == item.Name })
				if i < 0 || len(item.Status.LoadBalancer.Ingress) == 0 {
					continue
				}
				s := svcs[i]
				ip := item.Status.LoadBalancer.Ingress[0].IP
				if s.addr == "" {
					s.addr, s.ip = ip, now
					watchers.Add(1)
					go func() {
						defer watchers.Done()
						at := firstARPAnswer(watchCtx, ip)
						mu.Lock()
						s.arped = at
						mu.Unlock()
					}()
				} else if s.addr != ip {
					t.Errorf("%s: IP changed from %s to %s", s.name, s.addr, ip)
				}
			}
			mu.Unlock()
		}
	}()

	next := 0
	deadline := time.Now().Add(haBefore)
	for time.Now().Before(deadline) {
		create(next)
		next++
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

	for k := time.Duration(0); k < haAfter; k += time.Second {
		time.Sleep(time.Until(killed.Add(k)))
		create(next)
		next++
	}
	// Every Service's IP and answer, or the guard.
	if err := poll(haGuard, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range svcs {
			if s.ip.IsZero() || s.arped.IsZero() {
				return fmt.Errorf("%s: IP at %v, answered at %v", s.name, s.ip, s.arped)
			}
		}
		return nil
	}); err != nil {
		t.Errorf("after the kill: %v", err)
	}
	stopWatch()
	watchers.Wait()

	newLeader, newNode, acquired := controllerLease(t, ctx)
	if newLeader == leaderPod {
		t.Errorf("the Lease still names %s, whose node was killed", leaderPod)
	}

	mu.Lock()
	defer mu.Unlock()
	var rows []string
	var worst time.Duration
	for _, s := range svcs {
		since := func(at time.Time) string {
			if at.IsZero() {
				return "never"
			}
			return fmt.Sprintf("%+.2f s", at.Sub(killed).Seconds())
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", s.name, s.addr, since(s.created), since(s.ip), since(s.arped), durOr(s.created, s.ip)))
		if s.created.After(killed) && !s.ip.IsZero() {
			worst = max(worst, s.ip.Sub(killed))
		}
	}
	verdict := "met"
	if worst > haTarget {
		verdict = "MISSED"
	}
	t.Logf(`controller's node %s killed at 0 (leader %s); %s on %s leads since %+.2f s (Lease acquireTime)

| Service | IP | created | IP | ARP answered | created → IP |
|---|---|---|---|---|---|
%s

created after the kill → IP at the latest %.2f s after the kill (target ≤ %s: %s)`,
		node, leaderPod, newLeader, newNode, acquired.Sub(killed).Seconds(), strings.Join(rows, "\n"), worst.Seconds(), haTarget, verdict)
	if worst > haGuard {
		t.Errorf("a Service created after the kill got its IP %.2f s after it (guard %s)", worst.Seconds(), haGuard)
	}
	after := waitExternalIPs(t, ctx, "svc1", "svc2", "svc3")
	for svc, ip := range before {
		if after[svc] != ip {
			t.Errorf("%s: EXTERNAL-IP %s before the kill, %s after", svc, ip, after[svc])
		}
	}
	seen := map[string]string{}
	for svc, ip := range after {
		seen[ip] = svc
	}
	for _, s := range svcs {
		if other, dup := seen[s.addr]; dup && s.addr != "" {
			t.Errorf("%s and %s hold the same IP %s", s.name, other, s.addr)
		}
		seen[s.addr] = s.name
	}
	restart()
}

func durOr(from, to time.Time) string {
	if to.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%.2f s", to.Sub(from).Seconds())
}

// firstARPAnswer asks for ip from the chart's client until a node answers,
// and returns when the answer came (zero if ctx ended first).
func firstARPAnswer(ctx context.Context, ip string) time.Time {
	for ctx.Err() == nil {
		err := theLab.st.Command(chartClient, "arping", "-c", "1", "-w", "1", "-I", "eth0", ip).Run()
		if err == nil {
			return time.Now()
		}
	}
	return time.Time{}
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

// controllerLease is controllerLeader with the Lease's acquire time.
func controllerLease(t *testing.T, ctx context.Context) (pod, node string, acquired time.Time) {
	t.Helper()
	pod, node, acquired, err := leaseHolder(ctx)
	if err != nil {
		t.Error(err)
	}
	return pod, node, acquired
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

