// Command lab measures the lab `ironlab` against issue 11's targets: the
// time `create cluster` takes from nothing to every Node Ready (4 nodes,
// the seed's config, binaries and images already built), the memory of the
// whole lab at rest, and the time `delete cluster` takes.
//
//	go run ./test/bench/lab [-runs 3] [-rest 30s]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ironlb/ironlb/test/lab/cluster"
)

// Targets from issue 11.
const (
	createTarget = 60 * time.Second
	deleteTarget = 10 * time.Second
)

func main() {
	name := flag.String("name", "ironlab-bench", "cluster name")
	config := flag.String("config", "test/seed/kind-svc-2w.yaml", "kind config")
	runs := flag.Int("runs", 3, "create/delete cycles")
	rest := flag.Duration("rest", 30*time.Second, "how long the lab idles after Ready before its memory is read")
	flag.Parse()
	if err := run(*name, *config, *runs, *rest); err != nil {
		fmt.Fprintln(os.Stderr, "bench-lab:", err)
		os.Exit(1)
	}
}

type sample struct {
	create, delete time.Duration
	steps          []step
	usage, rss     int64
	nodes          map[string][2]int64
}

func run(name, config string, runs int, rest time.Duration) error {
	b, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	cfg, err := cluster.ParseConfig(b)
	if err != nil {
		return err
	}
	ctx := context.Background()
	start := time.Now()
	imgs, registryBin, err := cluster.LabImages(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("lab images and registry built (cached) in %.1fs\n", time.Since(start).Seconds())
	var samples []sample
	for i := range runs {
		s, err := once(ctx, name, cfg, cluster.Options{Kubeconfig: "-", Images: imgs, RegistryBinary: registryBin, Wait: 2 * time.Minute, Retain: true}, rest)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		var steps []string
		for _, st := range s.steps {
			steps = append(steps, fmt.Sprintf("%s %.1fs", st.title, st.took.Seconds()))
		}
		fmt.Printf("run %d: create %.1fs (%s), memory at rest %s (RSS %s), delete %.1fs\n",
			i+1, s.create.Seconds(), strings.Join(steps, ", "), mib(s.usage), mib(s.rss), s.delete.Seconds())
		samples = append(samples, s)
	}
	report(samples)
	return nil
}

func once(ctx context.Context, name string, cfg *cluster.Config, o cluster.Options, rest time.Duration) (sample, error) {
	var s sample
	start := time.Now()
	rec := &recorder{}
	st, err := cluster.Create(ctx, name, cfg, rec, o)
	s.steps = rec.steps
	if err != nil {
		return s, err
	}
	s.create = time.Since(start)
	deleted := false
	defer func() {
		if !deleted {
			_ = cluster.Delete(name)
		}
	}()
	time.Sleep(rest)
	if s.usage, s.rss, err = st.Memory(""); err != nil {
		return s, err
	}
	s.nodes = map[string][2]int64{}
	for _, n := range st.Plan.Nodes {
		u, r, err := st.Memory(n.Name)
		if err != nil {
			return s, err
		}
		s.nodes[n.Name] = [2]int64{u, r}
	}
	start = time.Now()
	deleted = true
	if err := cluster.Delete(name); err != nil {
		return s, err
	}
	s.delete = time.Since(start)
	if left := st.Leftovers(); len(left) > 0 {
		return s, fmt.Errorf("left after delete: %s", strings.Join(left, "; "))
	}
	return s, nil
}

func report(samples []sample) {
	pick := func(f func(sample) time.Duration) (med, max time.Duration) {
		var v []time.Duration
		for _, s := range samples {
			v = append(v, f(s))
		}
		slices.Sort(v)
		return v[len(v)/2], v[len(v)-1]
	}
	cm, cx := pick(func(s sample) time.Duration { return s.create })
	dm, dx := pick(func(s sample) time.Duration { return s.delete })
	last := samples[len(samples)-1]
	fmt.Printf("\n| measure (%d runs, 4 nodes, 2 cores) | median | max | target |\n|---|---|---|---|\n", len(samples))
	fmt.Printf("| create cluster until all Nodes Ready | %.1f s | %.1f s | ≤ %.0f s %s |\n", cm.Seconds(), cx.Seconds(), createTarget.Seconds(), verdict(cx <= createTarget))
	fmt.Printf("| delete cluster | %.1f s | %.1f s | ≤ %.0f s %s |\n", dm.Seconds(), dx.Seconds(), deleteTarget.Seconds(), verdict(dx <= deleteTarget))
	fmt.Printf("| memory of the lab at rest (cgroup usage / RSS) | %s / %s | | |\n", mib(last.usage), mib(last.rss))
	names := make([]string, 0, len(last.nodes))
	for n := range last.nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Printf("|   %s | %s / %s | | |\n", n, mib(last.nodes[n][0]), mib(last.nodes[n][1]))
	}
}

func verdict(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// step is one of create's progress steps and how long it took.
type step struct {
	title string
	took  time.Duration
}

// recorder is a cluster.Progress that keeps each step's duration.
type recorder struct{ steps []step }

func (r *recorder) Step(title string) func(error) {
	start := time.Now()
	// Titles end in an emoji, which a table does without.
	f := strings.Fields(title)
	if n := len(f); n > 1 && f[n-1][0] >= 0x80 {
		f = f[:n-1]
	}
	short := strings.Join(f, " ")
	return func(error) { r.steps = append(r.steps, step{short, time.Since(start)}) }
}

func (r *recorder) Warn(string) {}
