// Command demo is what `make demo` runs: the seed walkthrough
// (test/seed/walkthrough.md), verbatim, on the lab. It creates the seed's
// 4-node cluster myk8s from the seed's own kind config with ironlab's Go
// API, loads IronLB's images, installs the chart with helm into
// metallb-system, applies the seed's YAML unchanged and shows what the
// seed shows: EXTERNAL-IPs, ServiceL2Status, events, arping and curl from
// the client mypc; then it kills the node announcing svc1 with signal 9
// while mypc requests svc1 every 50 ms, prints the outage the client saw
// and the new owner, and starts the node again.
//
// The lab is deleted at the end, on failure and on Ctrl-C, unless --keep.
// Run from the repository root, as root (make demo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/test/lab/cluster"
	"github.com/ironlb/ironlb/test/lab/repo"
)

const (
	labName   = "myk8s" // the seed's cluster
	namespace = "metallb-system"
	release   = "ironlb"
	client    = "mypc"
	clientIP  = "172.20.0.6" // mypc's address in the seed's note
	seedDir   = "test/seed"
)

func main() {
	keep := flag.Bool("keep", false, "leave the lab up at the end and print how to use it")
	imageDir := flag.String("images", "bin/images", "folder with ironlb-controller.tar and ironlb-speaker.tar (make images)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err := run(ctx, *imageDir, *keep)
	if err != nil && ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\n✗ %v\n", err)
	}
	fmt.Printf("\nmake demo: %s in %.0fs\n", map[bool]string{true: "done", false: "failed"}[err == nil], time.Since(start).Seconds())
	if err != nil {
		os.Exit(1)
	}
}

// demo is one run: the lab and how to talk to it.
type demo struct {
	st   *cluster.State
	root string // the clone
}

func run(ctx context.Context, imageDir string, keep bool) (err error) {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, seedDir, "walkthrough.md")); err != nil {
		return fmt.Errorf("the seed walkthrough: %w", err)
	}
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (network namespaces, cgroups)")
	}
	if _, err := cluster.Load(labName); err == nil {
		return fmt.Errorf("a lab %s is up already (make demo --keep or make lab?); delete it first: make lab-delete", labName)
	}
	// One lab at a time: they all use the seed's 172.20.0.0/16.
	if others, err := cluster.List(); err == nil && len(others) > 0 {
		return fmt.Errorf("lab %s is up (bin/ironlab get clusters) and holds the lab network 172.20.0.0/16; wait for it to go or delete it", strings.Join(others, ", "))
	}
	fmt.Println("IronLB demo — the seed walkthrough (test/seed/walkthrough.md), verbatim, on the lab:")
	fmt.Println("4 nodes in network namespaces with real kubelets and kube-proxies, IronLB installed with its Helm chart")
	fmt.Println()

	d := &demo{root: root}
	defer func() {
		if d.st == nil {
			return
		}
		if keep {
			d.printKeep()
			return
		}
		// Interrupted or not, the lab goes; ctx may be cancelled already.
		e := step("Deleting cluster \""+labName+"\"", func() error { return cluster.Delete(labName) })
		err = errors.Join(err, e)
	}()
	if err := d.setUp(ctx, imageDir, keep); err != nil {
		return err
	}
	if err := d.walkthrough(ctx); err != nil {
		return err
	}
	return d.failover(ctx)
}

// step prints one kind-style progress line with its duration.
func step(name string, f func() error) error {
	start := time.Now()
	err := f()
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	fmt.Printf(" %s %s (%.1fs)\n", mark, name, time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// show prints "$ shown" and the output of the command, as typed in the
// walkthrough.
func show(shown string, cmd *exec.Cmd) error {
	fmt.Printf("\n$ %s\n", shown)
	out, err := cmd.CombinedOutput()
	fmt.Print(string(out))
	if len(out) > 0 && out[len(out)-1] != '\n' {
		fmt.Println()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", shown, err)
	}
	return nil
}

// kubectl is the lab's kubectl with the lab's kubeconfig.
func (d *demo) kubectl(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.DefaultBinDir(), "kubectl"), append([]string{"--kubeconfig", d.st.KubeconfigPath()}, args...)...)
	cmd.Dir = filepath.Join(d.root, seedDir)
	return cmd
}

// showKubectl runs and shows `kubectl ARGS`.
func (d *demo) showKubectl(ctx context.Context, args ...string) error {
	return show("kubectl "+strings.Join(args, " "), d.kubectl(ctx, args...))
}

// output runs kubectl and returns its trimmed stdout.
func (d *demo) output(ctx context.Context, args ...string) (string, error) {
	out, err := d.kubectl(ctx, args...).Output()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		err = fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
	}
	return strings.TrimSpace(string(out)), err
}

func (d *demo) printKeep() {
	fmt.Printf(`
The lab stays up (--keep). Use it as the seed does:
  export KUBECONFIG=%s    # or: kubectl --context ironlab-%s
  export PATH=%s:$PATH    # kubectl %s
  kubectl get svc; kubectl get servicel2status -n %s
  bin/ironlab exec %s -- arping -I eth0 -c 1 172.20.255.200
  bin/ironlab exec %s -- curl -s 172.20.255.200
  bin/ironlab node stop myk8s-worker --signal 9; bin/ironlab node start myk8s-worker
Delete it with: make lab-delete   (bin/ironlab delete cluster --name %s)
`, d.st.KubeconfigPath(), labName, cluster.DefaultBinDir(), filepath.Base(filepath.Dir(cluster.DefaultBinDir())), namespace, client, client, labName)
}

// poll calls f every 100 ms until it succeeds, ctx ends or timeout
// passes, and returns f's last error then.
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
