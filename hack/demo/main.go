// Command demo is what `make demo` runs while IronLB is being built: it
// replays as much of the seed walkthrough as exists today, on a real
// kube-apiserver, and prints what is still to come. It grows with every
// issue until it is the full walkthrough on the lab.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/test/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "✗ %v\n", err)
		os.Exit(1)
	}
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

func run() error {
	binDir := os.Getenv("IRONLB_BIN")
	if binDir == "" {
		return fmt.Errorf("IRONLB_BIN must name the folder with the controller and speaker binaries (make demo sets it)")
	}
	fmt.Println("IronLB demo — what exists today, on a real kube-apiserver v1.36.3 + etcd")
	var env *testenv.Env
	if err := step("Starting control plane (etcd, kube-apiserver) with IronLB's CRDs", func() (err error) {
		env, err = testenv.Start()
		return err
	}); err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()

	// kubectl shows the walkthrough's command line and runs args.
	kubectl := func(shown, stdin string, args ...string) error {
		fmt.Printf("\n$ kubectl %s\n", shown)
		out, err := env.Kubectl(stdin, args...)
		fmt.Print(out)
		return err
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metallb-system"}}); err != nil {
		return err
	}
	out, err := env.Kubectl("", "get", "crd", "-o", "name")
	if err != nil {
		return err
	}
	fmt.Println("\n$ kubectl get crd | grep metallb")
	for _, l := range strings.Fields(out) {
		if strings.Contains(l, "metallb.io") {
			fmt.Println(strings.TrimPrefix(l, "customresourcedefinition.apiextensions.k8s.io/"))
		}
	}
	seed, err := os.ReadFile(filepath.Join(env.Root, "test", "seed", "metallb-config.yaml"))
	if err != nil {
		return err
	}
	if err := kubectl("apply -f metallb-config.yaml", string(seed), "apply", "-f", "-"); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"get", "ipaddresspools", "-n", "metallb-system"},
		{"get", "l2advertisements", "-n", "metallb-system"},
	} {
		if err := kubectl(strings.Join(args, " "), "", args...); err != nil {
			return err
		}
	}
	fmt.Println()
	for _, b := range []struct {
		name string
		args []string
	}{
		{"controller", nil},
		{"speaker", []string{"--node-name", "myk8s-worker"}},
	} {
		if err := step("Running the "+b.name+" against it: healthy, then SIGTERM", func() error {
			return runBinary(env, filepath.Join(binDir, b.name), b.args)
		}); err != nil {
			return err
		}
	}
	fmt.Print(`
Still to come (see the project's issues):
  - the controller assigns 172.20.255.200/.201/.202 to svc1..3 (issue 3)
  - speakers elect an owner per VIP and answer ARP/NDP; failover in < 300 ms (issue 10)
  - ironlab: the seed's 4-node cluster in network namespaces, real kubelets (issue 11)
  - Helm chart, images, and this demo as the full seed walkthrough (issue 12)
`)
	return nil
}

func runBinary(env *testenv.Env, path string, extra []string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	args := append([]string{"--kubeconfig", env.Kubeconfig, "--namespace", "metallb-system",
		"--port", "0", "--health-probe-port", strconv.Itoa(port), "--log-level", "error"}, extra...)
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30s", filepath.Base(path))
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s still running 15s after SIGTERM", filepath.Base(path))
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
