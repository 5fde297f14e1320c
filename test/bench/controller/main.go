// Command controller measures a MetalLB-compatible controller on a real
// kube-apiserver: how fast a backlog of LoadBalancer Services gets IPs when
// the controller starts, the creation-to-IP latency of Services created
// while it runs, its memory, and what a SIGKILL and restart changes.
//
//	go run ./test/bench/controller -services 10000 -backlog 2000
//
// -controller takes any binary with MetalLB's controller flags, so another
// implementation can be measured on the same harness.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/test/proc"
	"github.com/ironlb/ironlb/test/svcwatch"
	"github.com/ironlb/ironlb/test/testenv"
)

type options struct {
	services    int
	backlog     int
	creators    int
	pool        string
	controller  string
	extraArgs   string
	settle      time.Duration
	waitLimit   time.Duration
	kubeAPIQPS  int
	benchNSName string
}

func main() {
	var o options
	flag.IntVar(&o.services, "services", 10000, "Services in total")
	flag.IntVar(&o.backlog, "backlog", 2000, "Services created before the controller starts")
	flag.IntVar(&o.creators, "creators", 8, "concurrent clients creating the rest while the controller runs")
	flag.StringVar(&o.pool, "pool", "172.30.0.0/16", "the IPAddressPool's addresses")
	flag.StringVar(&o.controller, "controller", "", "controller binary (default: build IronLB's)")
	flag.StringVar(&o.extraArgs, "controller-args", "", "extra space-separated controller arguments")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "after a restart, how long without status changes counts as settled")
	flag.DurationVar(&o.waitLimit, "wait-limit", 10*time.Minute, "give up waiting for IPs after this long")
	flag.IntVar(&o.kubeAPIQPS, "client-qps", 2000, "QPS of the benchmark's own client")
	flag.StringVar(&o.benchNSName, "namespace", "bench", "namespace of the Services")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "benchmark failed: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx := context.Background()
	step := func(format string, args ...any) { fmt.Printf("• "+format+"\n", args...) }
	step("starting kube-apiserver + etcd (Service CIDR /12, so %d ClusterIPs fit)", o.services)
	env, err := testenv.Start(testenv.WithAPIServerArg("service-cluster-ip-range", "10.96.0.0/12"))
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg := *env.Config
	cfg.QPS, cfg.Burst = float32(o.kubeAPIQPS), 2*o.kubeAPIQPS
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return err
	}
	bin := o.controller
	if bin == "" {
		dir, err := os.MkdirTemp("", "ironlb-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bins, err := testenv.BuildBinaries(env.Root, dir)
		if err != nil {
			return err
		}
		bin = bins.Controller
	}
	for _, ns := range []string{"metallb-system", o.benchNSName} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	if _, err := env.Kubectl(fmt.Sprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bench, namespace: metallb-system}\nspec: {addresses: [%s]}\n", o.pool), "apply", "-f", "-"); err != nil {
		return err
	}

	tr, stopWatch, err := svcwatch.Start(cs, o.benchNSName)
	if err != nil {
		return err
	}
	defer stopWatch()

	created := make(map[string]time.Time, o.services)
	var createdMu sync.Mutex
	create := func(from, to int) error {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(o.creators)
		for i := from; i < to; i++ {
			g.Go(func() error {
				svc := benchService(o.benchNSName, i)
				t0 := time.Now()
				if _, err := cs.CoreV1().Services(o.benchNSName).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
					return fmt.Errorf("creating %s: %w", svc.Name, err)
				}
				createdMu.Lock()
				created[o.benchNSName+"/"+svc.Name] = t0
				createdMu.Unlock()
				return nil
			})
		}
		return g.Wait()
	}

	step("creating a backlog of %d Services (allocateLoadBalancerNodePorts: false) before the controller runs", o.backlog)
	t0 := time.Now()
	if err := create(0, o.backlog); err != nil {
		return err
	}
	step("backlog created in %.1fs (%.0f Services/s through the apiserver)", time.Since(t0).Seconds(), float64(o.backlog)/time.Since(t0).Seconds())

	ctl, err := startController(env, bin, o.extraArgs)
	if err != nil {
		return err
	}
	defer ctl.Kill()
	if _, err := tr.WaitAll(o.backlog, o.waitLimit); err != nil {
		return err
	}
	backlogTime := time.Since(ctl.Started)
	firstIP := tr.Earliest().Sub(ctl.Started)
	step("backlog allocated %.2fs after the controller started (%.0f Services/s); first IP after %.2fs",
		backlogTime.Seconds(), float64(o.backlog)/backlogTime.Seconds(), firstIP.Seconds())

	step("creating %d more Services with %d clients while the controller runs", o.services-o.backlog, o.creators)
	t1 := time.Now()
	if err := create(o.backlog, o.services); err != nil {
		return err
	}
	if _, err := tr.WaitAll(o.services, o.waitLimit); err != nil {
		return err
	}
	liveTime := time.Since(t1)
	var lat []time.Duration
	for key, c := range created {
		if _, isBacklog := backlogIndex(key, o.backlog); isBacklog {
			continue
		}
		lat = append(lat, tr.FirstAt(key).Sub(c))
	}
	slices.Sort(lat)
	rss, hwm := memory(ctl.Cmd.Process.Pid)
	before := tr.Snapshot()
	dups := len(svcwatch.Duplicates(before))

	step("SIGKILL the controller with %d Services allocated, and start it again", len(before))
	ctl.Kill()
	ctl2, err := startController(env, bin, o.extraArgs)
	if err != nil {
		return err
	}
	defer ctl2.Kill()
	// What a user waits for after a crash: a Service created the moment
	// the controller restarts gets its IP (startup, cache sync, rebuilding
	// the allocator from 10,000 statuses, one decision, one status write).
	fresh := benchService(o.benchNSName, o.services)
	fresh.Name = "svc-after-restart"
	if _, err := cs.CoreV1().Services(o.benchNSName).Create(ctx, fresh, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating %s: %w", fresh.Name, err)
	}
	freshKey := o.benchNSName + "/" + fresh.Name
	ready, err := ctl2.waitReady(o.waitLimit)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(o.waitLimit); tr.FirstAt(freshKey).IsZero(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s had no IP %s after the restart", freshKey, o.waitLimit)
		}
	}
	freshIP := tr.FirstAt(freshKey).Sub(ctl2.Started)
	// Settled: no Service's IPs changed for o.settle after readiness.
	time.Sleep(o.settle)
	if err := tr.WaitQuiet(o.settle, o.waitLimit); err != nil {
		return err
	}
	after := tr.Snapshot()
	changed := 0
	for k, v := range before {
		if after[k] != v {
			changed++
		}
	}
	_, hwm2 := memory(ctl2.Cmd.Process.Pid)

	fmt.Printf(`
| figure | value |
|---|---|
| Services | %d (pool %s) |
| backlog of %d, controller starts → first IP / all have an IP | %.2f s / %.2f s (%.0f Services/s) |
| %d Services created live by %d clients → all have an IP | %.2f s (%.0f Services/s) |
| creation → IP latency, live (p50 / p99 / max) | %s / %s / %s |
| duplicate IPs | %d |
| controller RSS after %d Services (now / peak) | %.0f MiB / %.0f MiB |
| SIGKILL + restart → a Service created at the restart has its IP | %.2f s |
| SIGKILL + restart: time to ready (readyz) | %.2f s |
| SIGKILL + restart: IPs changed | %d |
| restarted controller peak RSS | %.0f MiB |
`, o.services, o.pool, o.backlog, firstIP.Seconds(), backlogTime.Seconds(), float64(o.backlog)/backlogTime.Seconds(),
		o.services-o.backlog, o.creators, liveTime.Seconds(), float64(o.services-o.backlog)/liveTime.Seconds(),
		pct(lat, 50), pct(lat, 99), pct(lat, 100), dups, o.services, rss, hwm, freshIP.Seconds(), ready.Seconds(), changed, hwm2)
	return nil
}

func backlogIndex(key string, backlog int) (int, bool) {
	i := strings.LastIndex(key, "-")
	n, err := strconv.Atoi(key[i+1:])
	return n, err == nil && n < backlog
}

func benchService(ns string, i int) *corev1.Service {
	no := false
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("svc-%d", i)},
		Spec: corev1.ServiceSpec{
			Type:                          corev1.ServiceTypeLoadBalancer,
			Ports:                         []corev1.ServicePort{{Port: 80}},
			Selector:                      map[string]string{"app": "bench"},
			AllocateLoadBalancerNodePorts: &no, // a LoadBalancer takes a NodePort by default; 2,768 exist
		},
	}
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	i := (len(d)*p + 99) / 100
	i = min(max(i-1, 0), len(d)-1)
	return d[i].Round(time.Millisecond).String()
}

// memory returns the resident set and its peak, in MiB, from /proc.
func memory(pid int) (rss, peak float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// controllerProc is the controller under measurement and the port of its
// health probes.
type controllerProc struct {
	*proc.Proc
	probePort int
}

func startController(env *testenv.Env, bin, extra string) (*controllerProc, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig", env.Kubeconfig, "--namespace", "metallb-system", "--port", "0",
		"--health-probe-port", strconv.Itoa(port), "--webhook-mode", "disabled", "--log-level", "error"}
	args = append(args, strings.Fields(extra)...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	p, err := proc.Start("controller", cmd)
	if err != nil {
		return nil, err
	}
	return &controllerProc{Proc: p, probePort: port}, nil
}

func (p *controllerProc) waitReady(limit time.Duration) (time.Duration, error) {
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", p.probePort)
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.Started), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("controller not ready within %s", limit)
}
