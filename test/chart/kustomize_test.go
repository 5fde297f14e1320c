//go:build e2e

package chart

import (
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/test/testenv"
)

// TestKustomizeDefault: `kubectl kustomize config/default` renders a valid
// installation in metallb-system, with the same pods and names as the
// chart's defaults.
func TestKustomizeDefault(t *testing.T) {
	out, err := run(kubectl(t), "kustomize", "config/default")
	if err != nil {
		t.Fatal(err)
	}
	kinds := requireValid(t, out)
	for _, k := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "Deployment", "DaemonSet", "Service", "ValidatingWebhookConfiguration"} {
		if kinds[k] == 0 {
			t.Errorf("config/default renders no %s", k)
		}
	}
	if kinds["CustomResourceDefinition"] != 9 {
		t.Errorf("config/default renders %d CRDs, want 9", kinds["CustomResourceDefinition"])
	}
	objs := objects(t, out)
	checkPodSecurity(t, objs)

	for _, o := range objs {
		var m struct {
			Metadata struct{ Namespace string }
			Subjects []struct{ Namespace string }
		}
		if err := yaml.Unmarshal(o.YAML, &m); err != nil {
			t.Fatal(err)
		}
		if m.Metadata.Namespace != "" && m.Metadata.Namespace != "metallb-system" {
			t.Errorf("%s %s in namespace %s", o.Kind, o.Name, m.Metadata.Namespace)
		}
		for _, s := range m.Subjects {
			if s.Namespace != "metallb-system" {
				t.Errorf("%s %s binds a subject in namespace %s", o.Kind, o.Name, s.Namespace)
			}
		}
	}

	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if !find(t, objs, "ValidatingWebhookConfiguration", "ironlb-webhook-configuration", &vwc) {
		t.Fatal("no ValidatingWebhookConfiguration ironlb-webhook-configuration (the controller's --webhook-configuration)")
	}
	for _, w := range vwc.Webhooks {
		if s := w.ClientConfig.Service; s == nil || s.Name != "ironlb-webhook-service" || s.Namespace != "metallb-system" {
			t.Errorf("webhook %s calls %+v, want Service metallb-system/ironlb-webhook-service", w.Name, w.ClientConfig.Service)
		}
	}

	// The pods are the chart's: the same images, flags and security.
	chart := objects(t, helmTemplate(t, ""))
	for _, kind := range []string{"Deployment", "DaemonSet"} {
		name := map[string]string{"Deployment": "ironlb-controller", "DaemonSet": "ironlb-speaker"}[kind]
		k, c := podTemplate(t, objs, kind, name), podTemplate(t, chart, kind, name)
		kc, cc := k.Spec.Containers[0], c.Spec.Containers[0]
		if kc.Image != cc.Image {
			t.Errorf("%s image: config/default %s, chart %s", name, kc.Image, cc.Image)
		}
		if ka, ca := strings.Join(kc.Args, " "), strings.Join(withoutMetricsSecure(cc.Args), " "); ka != ca {
			t.Errorf("%s args: config/default %q, chart %q", name, ka, ca)
		}
		if kind == "DaemonSet" {
			checkMemberlistLabels(t, k)
		}
	}
}

// podTemplate returns the pod template of a Deployment or DaemonSet.
func podTemplate(t *testing.T, objs []object, kind, name string) corev1.PodTemplateSpec {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			var w struct {
				Spec struct{ Template corev1.PodTemplateSpec }
			}
			if err := yaml.Unmarshal(o.YAML, &w); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return w.Spec.Template
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return corev1.PodTemplateSpec{}
}

// withoutMetricsSecure drops --metrics-secure=true, the binaries' default,
// which the chart spells out.
func withoutMetricsSecure(args []string) []string {
	var out []string
	for _, a := range args {
		if a != "--metrics-secure=true" {
			out = append(out, a)
		}
	}
	return out
}

// kubectl is the cached Kubernetes build's (make k8s-binaries).
func kubectl(t testing.TB) string {
	t.Helper()
	dir, err := testenv.AssetsDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "kubectl")
}
