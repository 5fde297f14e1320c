//go:build e2e

package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
)

func TestEveryCRDIsEstablished(t *testing.T) {
	want := []string{
		"bfdprofiles", "bgpadvertisements", "bgppeers", "communities", "configurationstates",
		"ipaddresspools", "l2advertisements", "servicebgpstatuses", "servicel2statuses",
	}
	ctx := context.Background()
	for _, plural := range want {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, types.NamespacedName{Name: plural + ".metallb.io"}, &crd); err != nil {
			t.Errorf("CRD %s.metallb.io: %v", plural, err)
			continue
		}
		if !established(&crd) {
			t.Errorf("CRD %s is not Established: %+v", crd.Name, crd.Status.Conditions)
		}
	}
	out, err := env.Kubectl("", "get", "crd", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Fields(out) {
		if name, ok := strings.CutSuffix(strings.TrimPrefix(line, "customresourcedefinition.apiextensions.k8s.io/"), ".metallb.io"); ok {
			got = append(got, name)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("kubectl get crd | grep metallb = %v, want %v", got, want)
	}
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestEverySampleApplies(t *testing.T) {
	dir := filepath.Join(env.Root, "config", "samples")
	out, err := env.Kubectl("", "apply", "--server-side", "-k", dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "metallb_*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, " serverside-applied"); n != len(files) {
		t.Errorf("kubectl apply -k config/samples applied %d objects, want one per sample file (%d):\n%s", n, len(files), out)
	}
	t.Cleanup(func() { _, _ = env.Kubectl("", "delete", "-k", dir, "--wait") })

	var peer v1beta2.BGPPeer
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: "tor-router"}, &peer); err != nil {
		t.Fatal(err)
	}
	if peer.Spec.Port != 179 {
		t.Errorf("BGPPeer peerPort defaulted to %d, want 179", peer.Spec.Port)
	}
}

// TestSeedConfigRoundTrips applies the walkthrough's own file and checks what
// the API stores and what kubectl shows, column by column.
func TestSeedConfigRoundTrips(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join(env.Root, "test", "seed", "metallb-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Kubectl(string(seed), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = env.Kubectl(string(seed), "delete", "-f", "-") })

	ctx := context.Background()
	var pool v1beta1.IPAddressPool
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "my-ippool"}, &pool); err != nil {
		t.Fatal(err)
	}
	if got := pool.Spec.Addresses; len(got) != 1 || got[0] != "172.20.255.200-172.20.255.250" {
		t.Errorf("pool addresses = %v", got)
	}
	if pool.Spec.AutoAssign == nil || !*pool.Spec.AutoAssign {
		t.Errorf("pool autoAssign = %v, want defaulted to true", pool.Spec.AutoAssign)
	}
	if pool.Spec.AvoidBuggyIPs {
		t.Error("pool avoidBuggyIPs = true, want false")
	}
	var l2 v1beta1.L2Advertisement
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "my-l2-advertise"}, &l2); err != nil {
		t.Fatal(err)
	}
	if got := l2.Spec.IPAddressPools; len(got) != 1 || got[0] != "my-ippool" {
		t.Errorf("L2Advertisement ipAddressPools = %v", got)
	}

	tests := []struct {
		resource string
		want     [][]string
	}{
		{"ipaddresspools", [][]string{
			{"NAME", "AUTO ASSIGN", "AVOID BUGGY IPS", "ADDRESSES"},
			{"my-ippool", "true", "false", `["172.20.255.200-172.20.255.250"]`},
		}},
		{"l2advertisements", [][]string{
			{"NAME", "IPADDRESSPOOLS", "IPADDRESSPOOL SELECTORS", "INTERFACES"},
			{"my-l2-advertise", `["my-ippool"]`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			out, err := env.Kubectl("", "get", tt.resource, "-n", namespace)
			if err != nil {
				t.Fatal(err)
			}
			got := columns(out)
			if len(got) != len(tt.want) {
				t.Fatalf("kubectl get %s printed %d lines, want %d:\n%s", tt.resource, len(got), len(tt.want), out)
			}
			for i, row := range got {
				if strings.Join(row, "|") != strings.Join(tt.want[i], "|") {
					t.Errorf("kubectl get %s line %d = %q, want %q\n%s", tt.resource, i, row, tt.want[i], out)
				}
			}
		})
	}
}

// columns splits kubectl's table output into cells; cells are separated by
// two or more spaces, so header names with one space stay whole.
func columns(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		var cells []string
		for _, c := range strings.Split(line, "  ") {
			if c = strings.TrimSpace(c); c != "" {
				cells = append(cells, c)
			}
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestSchemaRefusesInvalidObjects sends objects that MetalLB's schema refuses
// and expects the apiserver to refuse them too, naming the offending field.
func TestSchemaRefusesInvalidObjects(t *testing.T) {
	tests := []struct {
		name      string
		manifest  string
		wantField string
	}{
		{"pool without addresses", `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: no-addresses, namespace: metallb-system}
spec: {autoAssign: true}`, "spec.addresses"},
		{"dynamicASN outside its enum", `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: bad-dynamic, namespace: metallb-system}
spec: {myASN: 64512, dynamicASN: sometimes, peerAddress: 10.0.0.1}`, "spec.dynamicASN"},
		{"peerPort above 16384", `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: bad-port, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 10.0.0.1, peerPort: 70000}`, "spec.peerPort"},
		{"connectTime not whole seconds", `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: bad-connect, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 10.0.0.1, connectTime: 1500ms}`, "spec.connectTime"},
		{"myASN above 32 bits", `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: bad-asn, namespace: metallb-system}
spec: {myASN: 4294967296, peerASN: 64500, peerAddress: 10.0.0.1}`, "spec.myASN"},
		{"BFD receive interval below 10 ms", `
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: too-fast, namespace: metallb-system}
spec: {receiveInterval: 5}`, "spec.receiveInterval"},
		{"BFD detect multiplier of 1", `
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: no-tolerance, namespace: metallb-system}
spec: {detectMultiplier: 1}`, "spec.detectMultiplier"},
		{"preferred node weight of 0", `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: zero-weight, namespace: metallb-system}
spec:
  preferredNodeSelectors:
  - weight: 0
    preference: {matchLabels: {zone: a}}`, "weight"},
		{"aggregation length 0", `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: zero-aggregation, namespace: metallb-system}
spec: {aggregationLength: 0}`, "spec.aggregationLength"},
		{"service selectors with aggregation", `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: selective-aggregate, namespace: metallb-system}
spec:
  aggregationLength: 24
  serviceSelectors: [{matchLabels: {app: web}}]`, "serviceSelectors"},
		{"unknown field", `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: typo, namespace: metallb-system}
spec: {addresses: [10.1.0.0/24], autoAsign: false}`, "autoAsign"},
		{"priority that is not an integer", `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: text-priority, namespace: metallb-system}
spec: {addresses: [10.1.0.0/24], serviceAllocation: {priority: high}}`, "priority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := env.Kubectl(tt.manifest, "apply", "-f", "-")
			if err == nil {
				t.Cleanup(func() { _, _ = env.Kubectl(tt.manifest, "delete", "-f", "-") })
				t.Fatalf("apiserver accepted it: %s", out)
			}
			if !strings.Contains(err.Error(), tt.wantField) {
				t.Errorf("refusal does not name %q: %v", tt.wantField, err)
			}
		})
	}
}

// TestStatusIdentityIsImmutable: a ServiceL2Status names one node and one
// Service for life; moving the announcement is a new object.
func TestStatusIdentityIsImmutable(t *testing.T) {
	ctx := context.Background()
	st := &v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{GenerateName: "l2-", Namespace: namespace}}
	if err := env.Client.Create(ctx, st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, st) })
	if !strings.HasPrefix(st.Name, "l2-") || len(st.Name) != len("l2-")+5 {
		t.Errorf("generated name %q, want l2- and a 5-character suffix like the seed's l2-cm8sw", st.Name)
	}
	st.Status = v1beta1.ServiceL2StatusStatus{Node: "myk8s-worker", ServiceName: "svc1", ServiceNamespace: "default",
		Interfaces: []v1beta1.InterfaceInfo{{Name: "eth0"}}}
	if err := env.Client.Status().Update(ctx, st); err != nil {
		t.Fatalf("setting status: %v", err)
	}
	out, err := env.Kubectl("", "get", "servicel2status", "-n", namespace)
	if err != nil {
		t.Fatal(err)
	}
	rows := columns(out)
	if len(rows) != 2 || strings.Join(rows[0], "|") != "NAME|ALLOCATED NODE|SERVICE NAME|SERVICE NAMESPACE" ||
		strings.Join(rows[1], "|") != st.Name+"|myk8s-worker|svc1|default" {
		t.Errorf("kubectl get servicel2status:\n%s", out)
	}

	st.Status.Interfaces = append(st.Status.Interfaces, v1beta1.InterfaceInfo{Name: "eth1"})
	if err := env.Client.Status().Update(ctx, st); err != nil {
		t.Errorf("changing interfaces must be allowed: %v", err)
	}
	st.Status.Node = "myk8s-worker2"
	err = env.Client.Status().Update(ctx, st)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.node") {
		t.Errorf("changing status.node: got %v, want Invalid naming status.node", err)
	}
}

// TestBGPPeerV1beta1IsServed: MetalLB's older BGPPeer manifests still apply
// and read back as v1beta2, the storage version.
func TestBGPPeerV1beta1IsServed(t *testing.T) {
	manifest := `
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: legacy-peer, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 172.20.0.254
  holdTime: 90s
  nodeSelectors:
  - matchLabels: {mynode: worker1}
    matchExpressions:
    - {key: topology.kubernetes.io/zone, operator: In, values: [ap-northeast-2a]}`
	if _, err := env.Kubectl(manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = env.Kubectl(manifest, "delete", "-f", "-") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var peer v1beta2.BGPPeer
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "legacy-peer"}, &peer); err != nil {
		t.Fatal(err)
	}
	if peer.Spec.HoldTime == nil || peer.Spec.HoldTime.Duration != 90*time.Second {
		t.Errorf("v1beta2 holdTime = %v, want 90s", peer.Spec.HoldTime)
	}
	sel, err := metav1.LabelSelectorAsSelector(&peer.Spec.NodeSelectors[0])
	if err != nil {
		t.Fatalf("v1beta1 nodeSelector is not a valid v1beta2 label selector: %v", err)
	}
	if got, want := sel.String(), "mynode=worker1,topology.kubernetes.io/zone in (ap-northeast-2a)"; got != want {
		t.Errorf("selector = %q, want %q", got, want)
	}
}
