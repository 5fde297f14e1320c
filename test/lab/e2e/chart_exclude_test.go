//go:build e2e

package lab

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// TestExcludedControlPlane: a control-plane node labelled as kubeadm and
// Talos label it (exclude-from-external-load-balancers) never announces,
// even as the only node an L2Advertisement selects; with MetalLB's value
// speaker.ignoreExcludeLB=true (--ignore-exclude-lb) it announces.
func TestExcludedControlPlane(t *testing.T) {
	ctx := context.Background()
	root := repoRoot(t)
	loadImages(t, ctx)

	nodes, err := theLab.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "node-role.kubernetes.io/control-plane"})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("control-plane nodes: %v (%v)", nodes, err)
	}
	cp := nodes.Items[0].Name
	config := `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: cp-pool, namespace: ` + releaseNS + `}
spec: {addresses: [172.20.255.230-172.20.255.231], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: cp-only, namespace: ` + releaseNS + `}
spec:
  ipAddressPools: [cp-pool]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: ` + cp + `}}]
---
apiVersion: v1
kind: Service
metadata: {name: cp-svc, namespace: default, annotations: {metallb.io/address-pool: cp-pool}}
spec: {type: LoadBalancer, selector: {app: webpod}, ports: [{port: 80, targetPort: 80}]}
`
	t.Cleanup(func() {
		_, _ = kubectlStdin(config, "delete", "--ignore-not-found", "-f", "-")
		_, _ = kubectl("label", "node", cp, excludeLabel+"-")
		removeSeedAndRelease(t, root, true)
		if err := poll(2*time.Minute, func() error { return namespaceGone(ctx, releaseNS) }); err != nil {
			t.Errorf("namespace %s: %v", releaseNS, err)
		}
	})
	if out, err := kubectl("label", "node", cp, excludeLabel+"=", "--overwrite"); err != nil {
		t.Fatalf("labelling %s: %v\n%s", cp, err, out)
	}
	if out, err := helm(t, "install", releaseName, "charts/ironlb", "-n", releaseNS, "--create-namespace", "--wait", "--timeout", "3m"); err != nil {
		t.Fatalf("helm install: %v\n%s\n%s", err, out, workloadStates(ctx))
	}
	deployWhoami(t, ctx, "webpod", 2)
	if err := poll(30*time.Second, func() error { _, err := kubectlStdin(config, "apply", "-f", "-"); return err }); err != nil {
		t.Fatalf("applying the pool, advertisement and Service: %v", err)
	}
	ip := waitExternalIPs(t, ctx, "cp-svc")["cp-svc"]

	// Labelled and without the flag: nobody answers for the VIP.
	clientNetns(t)
	time.Sleep(3 * time.Second) // the speakers have had the configuration for seconds
	if out, err := theLab.st.Command(chartClient, "arping", "-c", "3", "-w", "3", "-I", "eth0", ip).CombinedOutput(); err == nil {
		t.Errorf("arping %s answered while the only selected node %s is labelled %s:\n%s", ip, cp, excludeLabel, out)
	}
	if out, _ := kubectl("get", "servicel2status", "-n", releaseNS, "-o", "wide"); strings.Contains(out, "cp-svc") {
		t.Errorf("a ServiceL2Status names cp-svc:\n%s", out)
	}

	if out, err := helm(t, "upgrade", releaseName, "charts/ironlb", "-n", releaseNS, "--reuse-values", "--wait", "--timeout", "3m",
		"--set", "speaker.ignoreExcludeLB=true"); err != nil {
		t.Fatalf("helm upgrade --set speaker.ignoreExcludeLB=true: %v\n%s", err, out)
	}
	if node := checkAnnounced(t, ctx, "cp-svc", ip); node != cp {
		t.Errorf("cp-svc announced by %s, want the control plane %s", node, cp)
	}
}
