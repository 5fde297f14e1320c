//go:build e2e

// Package lab tests the lab `ironlab` end to end: one cluster from the
// seed's kind config for the whole package, the seed's Service
// walkthroughs on real kubelets and kube-proxies, a node stopped like
// `docker stop -s 9` and started again, and after delete a scan that finds
// nothing left. Needs root, the cached Kubernetes binaries and the Debian
// packages of `make deps`.
package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/test/lab/cluster"
)

// clusterName is the e2e's own cluster; the nodes are clusterName-worker, ...
const clusterName = "ironlab-e2e"

// lab is the package's cluster, made by TestMain before any test runs and
// read-only afterwards.
type lab struct {
	st *cluster.State
	cs kubernetes.Interface
}

var theLab lab

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A run killed by the test timeout leaves its cluster; the next run
	// removes it instead of failing on the taken network. A concurrent
	// run's cluster is not ours to remove.
	if old, err := cluster.Load(clusterName); err == nil {
		if old.Creator.Alive() {
			fmt.Fprintf(os.Stderr, "FAIL: cluster %s is in use by another test run (pid %d); wait for it to end\n", clusterName, old.Creator.PID)
			return 1
		}
		if err := cluster.Delete(clusterName); err != nil {
			fmt.Fprintf(os.Stderr, "removing a previous run's cluster: %v\n", err)
			return 1
		}
	} else if !errors.Is(err, cluster.ErrNoCluster) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	seed, err := os.ReadFile("../../seed/kind-svc-2w.yaml")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := cluster.ParseConfig(seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// kind's default grace is 50 s; the node-stop test would wait that long.
	cfg.ControllerManagerArgs["node-monitor-grace-period"] = "20s"
	imgs, registryBin, err := cluster.LabImages(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the lab images: %v\n", err)
		return 1
	}
	opts := cluster.Options{Kubeconfig: "-", Images: imgs, RegistryBinary: registryBin}
	if err := failedCreateCleansUp(ctx, cfg, opts); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	start := time.Now()
	st, err := cluster.Create(ctx, clusterName, cfg, cluster.NewPrinter(os.Stderr), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating the lab: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "lab %s up in %.1fs\n", clusterName, time.Since(start).Seconds())
	code := func() int {
		cs, err := st.Client()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		theLab = lab{st: st, cs: cs}
		return m.Run()
	}()

	// Reload: tests add clients, which delete must remove and the scan check.
	if s, err := cluster.Load(clusterName); err == nil {
		st = s
	}
	start = time.Now()
	if err := cluster.Delete(clusterName); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: deleting the lab: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "lab %s deleted in %.1fs\n", clusterName, time.Since(start).Seconds())
	if left := st.Leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: after delete cluster, still on the machine:\n  %s\n", strings.Join(left, "\n  "))
		return 1
	}
	return code
}

// failedCreateCleansUp makes a create fail at its last step, with every
// daemon of every node running, and checks that it removed all it made.
// It runs before the package's cluster exists: both need the lab network.
func failedCreateCleansUp(ctx context.Context, cfg *cluster.Config, o cluster.Options) error {
	o.Wait = time.Millisecond
	st, err := cluster.Create(ctx, clusterName, cfg, cluster.Quiet{}, o)
	if err == nil {
		return errors.New("create with a 1 ms wait for Ready succeeded; want it to fail")
	}
	if st == nil {
		return fmt.Errorf("failed create returned no state to check: %v", err)
	}
	if left := st.Leftovers(); len(left) > 0 {
		return fmt.Errorf("a failed create (%v) left:\n  %s", err, strings.Join(left, "\n  "))
	}
	return nil
}
