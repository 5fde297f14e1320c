package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ironlb/ironlb/test/lab/cluster"
	"github.com/ironlb/ironlb/test/lab/monitoring"
)

// setUp is the walkthrough's setup and step 1: the seed's kind cluster,
// the client mypc, IronLB installed with helm into metallb-system.
func (d *demo) setUp(ctx context.Context, imageDir string, keep bool) error {
	seed, err := os.ReadFile(filepath.Join(d.root, seedDir, "kind-svc-2w.yaml"))
	if err != nil {
		return err
	}
	cfg, err := cluster.ParseConfig(seed)
	if err != nil {
		return err
	}
	archives := []string{filepath.Join(imageDir, "ironlb-controller.tar"), filepath.Join(imageDir, "ironlb-speaker.tar")}
	for _, a := range archives {
		if _, err := os.Stat(a); err != nil {
			return fmt.Errorf("IronLB's images (make images): %w", err)
		}
	}
	var helmBin string
	if err := step("Building helm (tools/go.mod)", func() error {
		helm := exec.CommandContext(ctx, filepath.Join(d.root, "hack", "helm.sh"))
		helm.Dir = d.root
		out, err := helm.Output()
		helmBin = strings.TrimSpace(string(out))
		return err
	}); err != nil {
		return err
	}
	opts := cluster.Options{Kubeconfig: "-"}
	if keep { // merged into ~/.kube/config (or $KUBECONFIG), as kind does
		opts.Kubeconfig = ""
	}
	if err := step("Building the lab's images (pause, traefik/whoami stand-in) and registry", func() (err error) {
		opts.Images, opts.RegistryBinary, err = cluster.LabImages(ctx)
		return err
	}); err != nil {
		return err
	}

	fmt.Printf("\n$ ironlab create cluster --name %s --config kind-svc-2w.yaml   # kind create cluster, without Docker\n", labName)
	d.st, err = cluster.Create(ctx, labName, cfg, cluster.NewPrinter(os.Stdout), opts)
	if err != nil {
		d.st = nil // Create removed what it made
		return fmt.Errorf("creating the lab: %w", err)
	}
	if err := d.showKubectl(ctx, "get", "nodes", "-o", "wide"); err != nil {
		return err
	}
	fmt.Println()
	if err := step("Loading IronLB's images into every node (ironlab load image-archive bin/images/ironlb-{controller,speaker}.tar)", func() error {
		for _, a := range archives {
			if err := d.st.LoadImageArchive(ctx, a); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := step(fmt.Sprintf("Adding the client %s at %s (docker run --network kind --name %s)", client, clientIP, client), func() error {
		return d.st.AddClient(client, clientIP)
	}); err != nil {
		return err
	}

	// Step 1 of the walkthrough: install into metallb-system.
	// Prometheus' ServiceAccount may read /metrics (the lab's Prometheus
	// scrapes controller and speakers for the failover step).
	promValues := []string{"--set", "prometheus.serviceAccount=" + monitoring.ServiceAccount, "--set", "prometheus.namespace=" + monitoring.Namespace}
	helm := exec.CommandContext(ctx, helmBin, append([]string{"install", release, "charts/ironlb", "-n", namespace, "--create-namespace",
		"--wait", "--timeout", "3m", "--kubeconfig", d.st.KubeconfigPath()}, promValues...)...)
	helm.Dir = d.root
	start := time.Now()
	if err := show("helm install ironlb charts/ironlb -n metallb-system --create-namespace --wait "+strings.Join(promValues, " "), helm); err != nil {
		return err
	}
	fmt.Printf("(%.1fs)\n", time.Since(start).Seconds())
	if err := d.showKubectl(ctx, "get", "pod", "-n", namespace, "-o", "wide"); err != nil {
		return err
	}
	crds, err := d.output(ctx, "get", "crd", "-o", "name")
	if err != nil {
		return err
	}
	fmt.Println("\n$ kubectl get crd | grep metallb")
	for _, l := range strings.Fields(crds) {
		if strings.Contains(l, "metallb.io") {
			fmt.Println(strings.TrimPrefix(l, "customresourcedefinition.apiextensions.k8s.io/"))
		}
	}
	return nil
}

// walkthrough is steps 2 to 6: the seed's pool, L2Advertisement, webpods
// and Services, unchanged, and what the seed looks at.
func (d *demo) walkthrough(ctx context.Context) error {
	// The controller's webhook may still be getting its caBundle.
	fmt.Printf("\n$ kubectl apply -f metallb-config.yaml\n")
	var out []byte
	if err := poll(ctx, time.Minute, func() (err error) {
		out, err = d.kubectl(ctx, "apply", "-f", "metallb-config.yaml").CombinedOutput()
		return err
	}); err != nil {
		return fmt.Errorf("kubectl apply -f metallb-config.yaml: %w: %s", err, out)
	}
	fmt.Print(string(out))
	for _, args := range [][]string{
		{"get", "ipaddresspools", "-n", namespace},
		{"get", "l2advertisements", "-n", namespace},
		{"apply", "-f", "webpods.yaml", "-f", "services.yaml"},
	} {
		if err := d.showKubectl(ctx, args...); err != nil {
			return err
		}
	}
	fmt.Println()
	if err := step("Waiting for webpod1, webpod2 Ready, svc1..3 announced and served", func() error {
		if out, err := d.kubectl(ctx, "wait", "--for=condition=Ready", "pod/webpod1", "pod/webpod2", "--timeout=2m").CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		if err := poll(ctx, time.Minute, func() error {
			owners, err := d.owners(ctx)
			if err == nil && len(owners) < 3 {
				err = fmt.Errorf("ServiceL2Status for %d of svc1..3", len(owners))
			}
			return err
		}); err != nil {
			return err
		}
		// kube-proxy programs the Services a moment after the endpoints
		// are ready. A connection that arrives before keeps its
		// un-translated conntrack entry, and curl's SYN retransmissions
		// reuse it until curl gives up: wait, with a new short connection
		// each time, until every VIP is served.
		for _, vip := range []string{"172.20.255.200", "172.20.255.201", "172.20.255.202"} {
			if err := poll(ctx, time.Minute, func() error {
				_, err := get(ctx, cluster.NetnsPath(client), vip+":80", 500*time.Millisecond)
				return err
			}); err != nil {
				return fmt.Errorf("%s not served: %w", vip, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"get", "pod", "-o", "wide"},
		{"get", "svc"},
		{"describe", "svc", "svc1"},
		{"get", "svc", "svc1", "-o", "jsonpath={.status.loadBalancer.ingress[0]}"},
		{"get", "servicel2status", "-n", namespace},
	} {
		if err := d.showKubectl(ctx, args...); err != nil {
			return err
		}
	}
	if err := d.arping(ctx, "172.20.255.200"); err != nil {
		return err
	}
	if err := d.curls(ctx, "172.20.255.200", 100); err != nil {
		return err
	}
	return d.neigh(ctx, "172.20.255.201", "172.20.255.202")
}

// owners maps each Service to the node its ServiceL2Status names.
func (d *demo) owners(ctx context.Context) (map[string]string, error) {
	out, err := d.output(ctx, "get", "servicel2status", "-n", namespace,
		"-o", `jsonpath={range .items[*]}{.status.serviceName}={.status.node}{"\n"}{end}`)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Fields(out) {
		if svc, node, ok := strings.Cut(l, "="); ok {
			m[svc] = node
		}
	}
	return m, nil
}
