//go:build e2e

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/test/svcwatch"
	"github.com/ironlb/ironlb/test/testenv"
)

// stormPool is large enough for the full storm (8,192 addresses), in a
// range reserved for benchmarks (RFC 2544), never routed anywhere.
const stormPool = "198.18.0.0/19"

// Limits of the storm's waits: far above what the full run needs on two
// busy cores, so only a stuck controller reaches them.
const (
	stormCreateLimit   = 10 * time.Minute
	stormConvergeLimit = 5 * time.Minute
	stormQuiet         = 3 * time.Second // no status change for this long: converged
)

// TestAllocationStorm creates Services from several clients at once while
// two controller replicas take turns through the Lease and the leading one
// is SIGKILLed at random points (seeded, the seed printed) and replaced, so
// each kill is a leader change; then it counts what a user would call a bug: an IP held
// by two Services, a Service left without one, and a Service whose IP
// changed after it was first assigned (every status is watched).
func TestAllocationStorm(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (again: go test ./test/chaos -run AllocationStorm -args -seed %d -services %d -kills %d)", seed, seed, *flagServices, *flagKills)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	n, kills := *flagServices, *flagKills

	env, err := testenv.Start(testenv.WithAPIServerArg("service-cluster-ip-range", "10.96.0.0/12"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg := *env.Config
	// The storm's own clients must not be the bottleneck.
	cfg.QPS, cfg.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"metallb-system", "storm"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating namespace %s: %v", ns, err)
		}
	}
	if _, err := env.Kubectl(fmt.Sprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: storm, namespace: metallb-system}\nspec: {addresses: [%s]}\n", stormPool), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}

	w, stopWatch, err := svcwatch.Start(cs, "storm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopWatch)

	ctl := newControllers(t, env, cs)
	// Kill points: after the k-th created Service, plus up to 500 ms, so
	// kills land while Services arrive and while statuses are written.
	points := make([]int, kills)
	for i := range points {
		points[i] = rng.IntN(n)
	}
	slices.Sort(points)
	delays := make([]time.Duration, kills)
	for i := range delays {
		delays[i] = time.Duration(rng.Int64N(int64(500 * time.Millisecond)))
	}

	var created atomic.Int64
	start := time.Now()
	killerDone := make(chan []time.Time, 1)
	var takeovers []time.Duration
	go func() {
		var restarts []time.Time
		deadline := time.Now().Add(stormCreateLimit)
		for i, p := range points {
			for created.Load() < int64(p) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(delays[i])
			killed := ctl.killLeader()
			if killed.IsZero() {
				break
			}
			restarts = append(restarts, killed)
			// The next leader, timed from the SIGKILL.
			if _, ok := ctl.waitLeader(); ok {
				takeovers = append(takeovers, time.Since(killed))
			}
		}
		killerDone <- restarts
	}()

	if err := createServices(ctx, cs, n, *flagCreators, &created); err != nil {
		t.Fatal(err)
	}
	createdAll := time.Now()
	restarts := <-killerDone
	lastRestart := restarts[max(0, len(restarts)-1):]
	if len(restarts) != kills {
		t.Errorf("%d leaders killed, want %d", len(restarts), kills)
	}

	allIPs, err := w.WaitAll(n, stormConvergeLimit)
	if err != nil {
		t.Logf("controller output:\n%s", ctl.output())
		t.Fatal(err)
	}
	if err := w.WaitQuiet(stormQuiet, stormConvergeLimit); err != nil {
		t.Fatal(err)
	}

	// The end state, read from the apiserver rather than the watch.
	list, err := cs.CoreV1().Services("storm").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]string{}
	noIP := 0
	for _, s := range list.Items {
		ips := svcwatch.IPs(&s)
		if ips == "" {
			noIP++
		}
		final[s.Name] = ips
	}
	dups := svcwatch.Duplicates(final)
	changed, everShared := w.Violations()

	fromRestart := "-"
	if len(lastRestart) == 1 {
		fromRestart = fmt.Sprintf("%.2f s", allIPs.Sub(lastRestart[0]).Seconds())
	}
	t.Logf(`allocation storm, seed %d

| figure | value |
|---|---|
| Services created (by %d clients), pool | %d, %s |
| controller replicas; leader SIGKILLs (each a leader change) | %d; %d |
| SIGKILL → next leader: min / median / max | %s |
| creation of all Services took | %.2f s |
| duplicate IPs at the end | %d |
| IPs ever held by two Services at once (watched) | %d |
| Services without an IP at the end | %d |
| Services whose IP changed after first assignment | %d |
| last Service created → every Service has an IP | %.2f s |
| last leader SIGKILL → every Service has an IP | %s |
`, seed, *flagCreators, len(list.Items), stormPool, controllerReplicas, len(restarts), spread(takeovers), createdAll.Sub(start).Seconds(),
		len(dups), len(everShared), noIP, len(changed), max(0, allIPs.Sub(createdAll).Seconds()), fromRestart)
	if len(list.Items) != n {
		t.Errorf("%d Services exist, want %d", len(list.Items), n)
	}
	if len(dups) > 0 {
		t.Errorf("duplicate IPs: %v", firstFew(dups))
	}
	if len(everShared) > 0 {
		t.Errorf("IPs held by two Services at once: %v", firstFew(everShared))
	}
	if noIP > 0 {
		t.Errorf("%d Services without an IP", noIP)
	}
	if len(changed) > 0 {
		t.Errorf("Services whose IP changed: %v", firstFew(changed))
	}
}

// createServices creates svc-0 … svc-(n-1) in namespace storm, creators
// at a time, and stops at the first error.
func createServices(ctx context.Context, cs kubernetes.Interface, n, creators int, created *atomic.Int64) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(creators)
	for i := range n {
		g.Go(func() error {
			no := false
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: "storm", Name: fmt.Sprintf("svc-%d", i)},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}},
					Selector: map[string]string{"app": "storm"}, AllocateLoadBalancerNodePorts: &no},
			}
			if _, err := cs.CoreV1().Services("storm").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("creating Service storm/%s: %w", svc.Name, err)
			}
			created.Add(1)
			return nil
		})
	}
	return g.Wait()
}

func firstFew(s []string) []string { return s[:min(len(s), 10)] }

// spread is "min / median / max" of ds, in seconds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%.2f / %.2f / %.2f s", s[0].Seconds(), s[len(s)/2].Seconds(), s[len(s)-1].Seconds())
}
