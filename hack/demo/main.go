// Command demo is what `make demo` runs while IronLB is being built: it
// replays as much of the seed walkthrough as exists today, on a real
// kube-apiserver with IronLB's real binaries, and prints what is still to
// come. It grows with every issue until it is the full walkthrough on the lab.
package main

import (
	"context"
	"fmt"
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
	"k8s.io/apimachinery/pkg/types"

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
	fmt.Println("IronLB demo — the seed walkthrough as far as IronLB goes today, on a real kube-apiserver v1.36.3 + etcd")
	var env *testenv.Env
	if err := step("Starting control plane (etcd, kube-apiserver; Services 10.200.1.0/24 as in the seed) with IronLB's CRDs", func() (err error) {
		env, err = testenv.Start(testenv.WithAPIServerArg("service-cluster-ip-range", "10.200.1.0/24"))
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
	var controller *exec.Cmd
	if err := step("Starting IronLB's controller (namespace metallb-system)", func() (err error) {
		controller, err = startBinary(env, filepath.Join(binDir, "controller"), "--webhook-mode", "disabled")
		return err
	}); err != nil {
		return err
	}
	defer stopBinary(controller)

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
	seed := func(name string) (string, error) {
		data, err := os.ReadFile(filepath.Join(env.Root, "test", "seed", name))
		return string(data), err
	}
	config, err := seed("metallb-config.yaml")
	if err != nil {
		return err
	}
	services, err := seed("services.yaml")
	if err != nil {
		return err
	}
	if err := kubectl("apply -f metallb-config.yaml", config, "apply", "-f", "-"); err != nil {
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
	if err := kubectl("apply -f services.yaml", services, "apply", "-f", "-"); err != nil {
		return err
	}
	fmt.Println()
	if err := step("Waiting for svc1..3 to get their external IPs", func() error {
		return waitIngress(ctx, env, []string{"svc1", "svc2", "svc3"})
	}); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"get", "svc"},
		{"describe", "svc", "svc1"},
		{"get", "ipaddresspools", "my-ippool", "-n", "metallb-system", "-o", "jsonpath={.status}"},
	} {
		if err := kubectl(strings.Join(args, " "), "", args...); err != nil {
			return err
		}
	}
	fmt.Println()
	fmt.Println()
	if err := step("Running the speaker against it: healthy, then SIGTERM", func() error {
		sp, err := startBinary(env, filepath.Join(binDir, "speaker"), "--node-name", "myk8s-worker")
		if err != nil {
			return err
		}
		return stopBinary(sp)
	}); err != nil {
		return err
	}
	fmt.Print(`
Still to come (see the project's issues):
  - speakers elect an owner per VIP and answer ARP/NDP; nodeAssigned events,
    ServiceL2Status; failover in < 300 ms (issue 10)
  - ironlab: the seed's 4-node cluster in network namespaces, real kubelets (issue 11)
  - Helm chart, images, and this demo as the full seed walkthrough (issue 12)
`)
	return nil
}

func waitIngress(ctx context.Context, env *testenv.Env, names []string) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, name := range names {
		for {
			var svc corev1.Service
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &svc); err != nil {
				return err
			}
			if len(svc.Status.LoadBalancer.Ingress) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s has no external IP after 60s", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// startBinary runs an IronLB binary against the demo's apiserver and waits
// until it is ready.
func startBinary(env *testenv.Env, path string, extra ...string) (*exec.Cmd, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--kubeconfig", env.Kubeconfig, "--namespace", "metallb-system",
		"--port", "0", "--health-probe-port", strconv.Itoa(port), "--log-level", "error"}, extra...)
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("%s not ready after 30s", filepath.Base(path))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopBinary sends SIGTERM and waits at most 15 s for a clean exit.
func stopBinary(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s still running 15s after SIGTERM", filepath.Base(cmd.Path))
	}
}
