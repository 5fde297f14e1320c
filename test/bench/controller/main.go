// Command controller measures a MetalLB-compatible controller on a real
// kube-apiserver: how fast a backlog of LoadBalancer Services gets IPs when
// the controller starts, the creation-to-IP latency of Services created
// while it runs, its memory, and what a SIGKILL and restart changes.
//
//	go run ./test/bench/controller -services 10000 -backlog 2000
//
// The same run measures, each on a fresh apiserver, the apiserver's own
// floor (floor.go: the same writes per Service with no logic), IronLB's
// controller, and -controller when given (any binary with MetalLB's
// controller flags, such as MetalLB's own), and reports IronLB as ratios
// to the floor and to that controller.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

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
	ironlb      string
	extraArgs   string
	otherArgs   string
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
	flag.StringVar(&o.controller, "controller", "", "another controller binary with MetalLB's flags (MetalLB's) measured beside IronLB's")
	flag.StringVar(&o.ironlb, "ironlb", "", "IronLB's controller binary (default: build it)")
	floorKubeconfig := flag.String("floor-kubeconfig", "", "internal: run as the floor against this apiserver")
	floorPort := flag.Int("floor-probe-port", 0, "internal: the floor's /readyz port")
	flag.StringVar(&o.extraArgs, "ironlb-args", "", "extra space-separated arguments of IronLB's controller")
	flag.StringVar(&o.otherArgs, "controller-args", "", "extra space-separated arguments of -controller")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "after a restart, how long without status changes counts as settled")
	flag.DurationVar(&o.waitLimit, "wait-limit", 10*time.Minute, "give up waiting for IPs after this long")
	flag.IntVar(&o.kubeAPIQPS, "client-qps", 2000, "QPS of the benchmark's own client")
	flag.StringVar(&o.benchNSName, "namespace", "bench", "namespace of the Services")
	flag.Parse()
	// envtest logs through controller-runtime; the benchmark prints its own.
	ctrllog.SetLogger(logr.Discard())
	if *floorKubeconfig != "" {
		if err := runFloor(*floorKubeconfig, o.benchNSName, "bench", o.pool, *floorPort); err != nil {
			fmt.Fprintf(os.Stderr, "floor: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "benchmark failed: %v\n", err)
		os.Exit(1)
	}
}

// result is what one controller did on its own apiserver.
type result struct {
	name                   string
	firstIP, backlog, live time.Duration
	lat                    []time.Duration
	dups, changed          int
	rss, hwm, hwm2         float64
	freshIP, ready         time.Duration
}

// target is a controller under measurement: start runs it against env.
type target struct {
	name  string
	start func(env *testenv.Env) (*controllerProc, error)
}

func run(o options) error {
	step := func(format string, args ...any) { fmt.Printf("• "+format+"\n", args...) }
	ironlb := o.ironlb
	if ironlb == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "ironlb-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bins, err := testenv.BuildBinaries(root, dir)
		if err != nil {
			return err
		}
		ironlb = bins.Controller
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	targets := []target{
		{"floor", func(env *testenv.Env) (*controllerProc, error) { return startFloor(env, self, o) }},
		{"IronLB", func(env *testenv.Env) (*controllerProc, error) { return startController(env, ironlb, o.extraArgs) }},
	}
	if o.controller != "" {
		targets = append(targets, target{filepath.Base(o.controller), func(env *testenv.Env) (*controllerProc, error) {
			return startMetalLBStyle(env, o.controller, o.otherArgs)
		}})
	}
	var results []result
	for _, t := range targets {
		step("=== %s ===", t.name)
		r, err := measure(o, t)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		results = append(results, r)
	}
	report(o, results)
	return nil
}

// measure runs the backlog, live and restart phases against t on a fresh
// kube-apiserver.
func measure(o options, t target) (result, error) {
	ctx := context.Background()
	r := result{name: t.name}
	step := func(format string, args ...any) { fmt.Printf("• "+format+"\n", args...) }
	step("starting kube-apiserver + etcd (Service CIDR /12, so %d ClusterIPs fit)", o.services)
	env, err := testenv.Start(testenv.WithAPIServerArg("service-cluster-ip-range", "10.96.0.0/12"))
	if err != nil {
		return r, err
	}
	defer func() { _ = env.Stop() }()
	cfg := *env.Config
	cfg.QPS, cfg.Burst = float32(o.kubeAPIQPS), 2*o.kubeAPIQPS
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return r, err
	}
	for _, ns := range []string{"metallb-system", o.benchNSName} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return r, err
		}
	}
	if _, err := env.Kubectl(fmt.Sprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bench, namespace: metallb-system}\nspec: {addresses: [%s]}\n", o.pool), "apply", "-f", "-"); err != nil {
		return r, err
	}

	tr, stopWatch, err := svcwatch.Start(cs, o.benchNSName)
	if err != nil {
		return r, err
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
		return r, err
	}
	step("backlog created in %.1fs (%.0f Services/s through the apiserver)", time.Since(t0).Seconds(), float64(o.backlog)/time.Since(t0).Seconds())

	ctl, err := t.start(env)
	if err != nil {
		return r, err
	}
	defer ctl.Kill()
	if _, err := tr.WaitAll(o.backlog, o.waitLimit); err != nil {
		return r, err
	}
	r.backlog = time.Since(ctl.Started)
	r.firstIP = tr.Earliest().Sub(ctl.Started)
	step("backlog allocated %.2fs after the controller started (%.0f Services/s); first IP after %.2fs",
		r.backlog.Seconds(), float64(o.backlog)/r.backlog.Seconds(), r.firstIP.Seconds())

	step("creating %d more Services with %d clients while the controller runs", o.services-o.backlog, o.creators)
	t1 := time.Now()
	if err := create(o.backlog, o.services); err != nil {
		return r, err
	}
	if _, err := tr.WaitAll(o.services, o.waitLimit); err != nil {
		return r, err
	}
	r.live = time.Since(t1)
	for key, c := range created {
		if _, isBacklog := backlogIndex(key, o.backlog); isBacklog {
			continue
		}
		r.lat = append(r.lat, tr.FirstAt(key).Sub(c))
	}
	slices.Sort(r.lat)
	r.rss, r.hwm = memory(ctl.Cmd.Process.Pid)
	before := tr.Snapshot()
	r.dups = len(svcwatch.Duplicates(before))

	step("SIGKILL the controller with %d Services allocated, and start it again", len(before))
	ctl.Kill()
	ctl2, err := t.start(env)
	if err != nil {
		return r, err
	}
	defer ctl2.Kill()
	// What a user waits for after a crash: a Service created the moment
	// the controller restarts gets its IP (startup, cache sync, rebuilding
	// the allocator from 10,000 statuses, one decision, one status write).
	fresh := benchService(o.benchNSName, o.services)
	fresh.Name = "svc-after-restart"
	if _, err := cs.CoreV1().Services(o.benchNSName).Create(ctx, fresh, metav1.CreateOptions{}); err != nil {
		return r, fmt.Errorf("creating %s: %w", fresh.Name, err)
	}
	freshKey := o.benchNSName + "/" + fresh.Name
	if r.ready, err = ctl2.waitReady(o.waitLimit); err != nil {
		return r, err
	}
	for deadline := time.Now().Add(o.waitLimit); tr.FirstAt(freshKey).IsZero(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%s had no IP %s after the restart", freshKey, o.waitLimit)
		}
	}
	r.freshIP = tr.FirstAt(freshKey).Sub(ctl2.Started)
	// Settled: no Service's IPs changed for o.settle after readiness.
	time.Sleep(o.settle)
	if err := tr.WaitQuiet(o.settle, o.waitLimit); err != nil {
		return r, err
	}
	after := tr.Snapshot()
	for k, v := range before {
		if after[k] != v {
			r.changed++
		}
	}
	_, r.hwm2 = memory(ctl2.Cmd.Process.Pid)
	return r, nil
}

// report prints one column per controller, then IronLB's figures as
// ratios to the floor's and to the other controller's.
func report(o options, rs []result) {
	row := func(name string, f func(r result) string) {
		fmt.Printf("| %s |", name)
		for _, r := range rs {
			fmt.Printf(" %s |", f(r))
		}
		fmt.Println()
	}
	fmt.Printf("\n| figure (%d Services, pool %s) |", o.services, o.pool)
	for _, r := range rs {
		fmt.Printf(" %s |", r.name)
	}
	fmt.Printf("\n|---|%s\n", strings.Repeat("---|", len(rs)))
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	row(fmt.Sprintf("backlog of %d, start → first IP", o.backlog), func(r result) string { return secs(r.firstIP) })
	row(fmt.Sprintf("backlog of %d, start → all have an IP", o.backlog), func(r result) string {
		return fmt.Sprintf("%s (%.0f/s)", secs(r.backlog), float64(o.backlog)/r.backlog.Seconds())
	})
	row(fmt.Sprintf("%d created live by %d clients → all have an IP", o.services-o.backlog, o.creators), func(r result) string {
		return fmt.Sprintf("%s (%.0f/s)", secs(r.live), float64(o.services-o.backlog)/r.live.Seconds())
	})
	row("creation → IP, live (p50 / p99 / max)", func(r result) string {
		return fmt.Sprintf("%s / %s / %s", pct(r.lat, 50), pct(r.lat, 99), pct(r.lat, 100))
	})
	row("duplicate IPs", func(r result) string { return strconv.Itoa(r.dups) })
	row(fmt.Sprintf("RSS after %d Services (now / peak)", o.services), func(r result) string { return fmt.Sprintf("%.0f / %.0f MiB", r.rss, r.hwm) })
	row("SIGKILL + restart → a Service created at the restart has its IP", func(r result) string { return secs(r.freshIP) })
	row("SIGKILL + restart → ready (readyz)", func(r result) string { return secs(r.ready) })
	row("SIGKILL + restart: IPs changed", func(r result) string { return strconv.Itoa(r.changed) })
	row("restarted: peak RSS", func(r result) string { return fmt.Sprintf("%.0f MiB", r.hwm2) })

	var ironlb result
	for _, r := range rs {
		if r.name == "IronLB" {
			ironlb = r
		}
	}
	for _, other := range rs {
		if other.name == "IronLB" {
			continue
		}
		fmt.Printf("\nIronLB ÷ %s: backlog %.2f×, live all %.2f×, live p50 %.2f×, p99 %.2f×, restart → IP %.2f×\n", other.name,
			ratio(ironlb.backlog, other.backlog), ratio(ironlb.live, other.live),
			ratio(pctD(ironlb.lat, 50), pctD(other.lat, 50)), ratio(pctD(ironlb.lat, 99), pctD(other.lat, 99)),
			ratio(ironlb.freshIP, other.freshIP))
	}
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
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
	return pctD(d, p).Round(time.Millisecond).String()
}

// pctD is the p-th percentile of sorted durations.
func pctD(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	return d[min(max(i-1, 0), len(d)-1)]
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

// controllerProc is the controller under measurement and where it says
// it is ready.
type controllerProc struct {
	*proc.Proc
	readyURL string
}

// startController runs IronLB's controller, ready when /readyz on its
// health probe port answers.
func startController(env *testenv.Env, bin, extra string) (*controllerProc, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	return startProc(bin, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), append([]string{"--kubeconfig", env.Kubeconfig,
		"--namespace", "metallb-system", "--port", "0", "--health-probe-port", strconv.Itoa(port), "--webhook-mode", "disabled",
		"--log-level", "error"}, strings.Fields(extra)...)...)
}

// startMetalLBStyle runs a controller with MetalLB's flags only, ready when
// it serves /metrics over plain HTTP (what MetalLB 0.15's manifests probe).
func startMetalLBStyle(env *testenv.Env, bin, extra string) (*controllerProc, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	return startProc(bin, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), append([]string{"--kubeconfig", env.Kubeconfig,
		"--namespace", "metallb-system", "--port", strconv.Itoa(port), "--webhook-mode", "disabled",
		"--log-level", "error"}, strings.Fields(extra)...)...)
}

// startFloor runs this binary as the floor (floor.go) against env.
func startFloor(env *testenv.Env, self string, o options) (*controllerProc, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	return startProc(self, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), "-floor-kubeconfig", env.Kubeconfig,
		"-floor-probe-port", strconv.Itoa(port), "-namespace", o.benchNSName, "-pool", o.pool)
}

func startProc(bin, readyURL string, args ...string) (*controllerProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	p, err := proc.Start(filepath.Base(bin), cmd)
	if err != nil {
		return nil, err
	}
	return &controllerProc{Proc: p, readyURL: readyURL}, nil
}

func (p *controllerProc) waitReady(limit time.Duration) (time.Duration, error) {
	url := p.readyURL
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
