package chart

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubeconformResult is one resource of kubeconform's JSON output.
type kubeconformResult struct {
	Kind, Name, Version, Status, Msg string
}

// monitorKinds are the Prometheus operator's; its CRDs are not available
// offline, so kubeconform skips them and helm-unittest checks their fields
// (test/dashboards checks the PrometheusRule's rules with promtool).
const monitorKinds = "ServiceMonitor,PodMonitor,PrometheusRule"

var (
	schemaDirs    []string
	schemaDirsErr error
)

// validator returns kubeconform's schema locations: Kubernetes' (cached)
// and our CRDs' (from config/crd/bases, in a temporary directory).
func validator(t *testing.T) []string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	if schemaDirs == nil && schemaDirsErr == nil {
		schemaDirsErr = func() error {
			k8s, err := kubernetesSchemas()
			if err != nil {
				return fmt.Errorf("converting the Kubernetes %s schemas: %w", k8sVersion, err)
			}
			crds, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
			if err != nil || len(crds) == 0 {
				return fmt.Errorf("no CRDs in config/crd/bases: %v", err)
			}
			dir, err := os.MkdirTemp("", "ironlb-crd-schemas-")
			if err != nil {
				return err
			}
			ours, err := crdSchemas(dir, crds)
			if err != nil {
				return err
			}
			schemaDirs = []string{k8s, ours}
			return nil
		}()
	}
	if schemaDirsErr != nil {
		t.Fatal(schemaDirsErr)
	}
	return schemaDirs
}

// kubeconform validates manifests strictly and returns every resource's
// result.
func kubeconform(t *testing.T, manifests []byte) []kubeconformResult {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(f, manifests, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-strict", "-output", "json", "-verbose", "-kubernetes-version", strings.TrimPrefix(k8sVersion, "v"), "-skip", monitorKinds}
	for _, d := range validator(t) {
		args = append(args, "-schema-location", filepath.Join(d, "{{ .ResourceKind }}{{ .KindSuffix }}.json"))
	}
	out, _ := run(tool(t, "kubeconform"), append(args, f)...) // exit 1 on invalid input; the JSON says why
	var res struct{ Resources []kubeconformResult }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("kubeconform output: %v\n%s", err, out)
	}
	return res.Resources
}

// requireValid fails the test for every resource kubeconform did not find
// valid (monitors aside) and returns the kinds it checked.
func requireValid(t *testing.T, manifests []byte) map[string]int {
	t.Helper()
	kinds := map[string]int{}
	for _, r := range kubeconform(t, manifests) {
		kinds[r.Kind]++
		switch {
		case r.Status == "statusValid":
		case r.Status == "statusSkipped" && strings.Contains(","+monitorKinds+",", ","+r.Kind+","):
		default:
			t.Errorf("%s %s (%s): %s %s", r.Kind, r.Name, r.Version, r.Status, r.Msg)
		}
	}
	if len(kinds) == 0 {
		t.Errorf("kubeconform saw no resources in:\n%s", manifests)
	}
	return kinds
}

// TestKubeconformRejects keeps the check honest: schemas that accept
// anything would pass every rendering.
func TestKubeconformRejects(t *testing.T) {
	cases := map[string]string{
		"unknown field": `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i, securityContxt: {}}]
`,
		"wrong type": `apiVersion: v1
kind: Service
metadata: {name: x}
spec: {ports: [{port: "eighty"}]}
`,
		"CRD field": `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: x, namespace: metallb-system}
spec: {addresses: [192.0.2.0/24], autoAsign: true}
`,
		"unknown kind": `apiVersion: metallb.io/v1beta1
kind: IPAddressPools
metadata: {name: x}
`,
	}
	for name, manifest := range cases {
		t.Run(name, func(t *testing.T) {
			res := kubeconform(t, []byte(manifest))
			if len(res) != 1 || res[0].Status == "statusValid" {
				t.Errorf("kubeconform accepted an invalid manifest: %+v", res)
			}
		})
	}
	// And a valid one of ours passes, so the CRD schemas are the ones used.
	requireValid(t, []byte(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: x, namespace: metallb-system}
spec: {addresses: [192.0.2.0/24], autoAssign: true}
`))
}
