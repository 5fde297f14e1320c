package migrate

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// metallbNative is shaped like MetalLB's metallb-native.yaml: a Namespace,
// CRDs, RBAC, the webhook's Secret, Service and configuration, the
// workloads; plus a configuration object a user may keep beside them.
const metallbNative = `apiVersion: v1
kind: Namespace
metadata: {name: metallb-system}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ipaddresspools.metallb.io}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: speaker, namespace: metallb-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "metallb-system:speaker"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: metallb-excludel2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: metallb-system}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: speaker, namespace: metallb-system}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: metallb-webhook-configuration}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
`

func clusterScoped(kinds ...string) func(Object) (bool, error) {
	return func(o Object) (bool, error) { return !slices.Contains(kinds, o.Kind), nil }
}

func TestRemovalPlan(t *testing.T) {
	objs, err := ReadManifest([]byte(metallbNative))
	if err != nil {
		t.Fatal(err)
	}
	remove, keep, err := RemovalPlan(objs, "metallb-system", clusterScoped("ClusterRole", "ValidatingWebhookConfiguration"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range remove {
		got = append(got, o.String())
	}
	want := []string{
		"ValidatingWebhookConfiguration metallb-webhook-configuration", // first: it would refuse writes once its Service is gone
		"DaemonSet metallb-system/speaker",
		"Deployment metallb-system/controller",
		"ServiceAccount metallb-system/speaker",
		"ClusterRole metallb-system:speaker",
		"ConfigMap metallb-system/metallb-excludel2", // no namespace in the manifest: the install's
	}
	if !slices.Equal(got, want) {
		t.Errorf("removed\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	var kept []string
	for _, k := range keep {
		kept = append(kept, k.Object.String())
	}
	if want := []string{"Namespace metallb-system", "CustomResourceDefinition ipaddresspools.metallb.io", "IPAddressPool metallb-system/first-pool"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
}

func TestRemovalPlanErrors(t *testing.T) {
	if _, err := ReadManifest([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")); err == nil || !strings.Contains(err.Error(), "document 1") {
		t.Errorf("an object without a name: %v, want an error naming document 1", err)
	}
	if _, err := ReadManifest([]byte("---\n# nothing\n")); err == nil {
		t.Error("an empty manifest was accepted")
	}
	objs, err := ReadManifest([]byte("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := func(Object) (bool, error) { return false, errors.New("no such kind in the cluster") }
	if _, _, err := RemovalPlan(objs, "ns", unknown); err == nil || !strings.Contains(err.Error(), "Widget w") {
		t.Errorf("an unknown kind: %v, want an error naming the object", err)
	}
}

func TestReadManifestLists(t *testing.T) {
	objs, err := ReadManifest([]byte(`{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "n"}}]}`))
	if err != nil || len(objs) != 1 || objs[0].String() != "Service n/a" {
		t.Errorf("a List: %v %v", objs, err)
	}
}
