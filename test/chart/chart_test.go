package chart

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "charts/ironlb"

// rendering is one way to install the chart: the defaults and each
// optional feature on (or off).
type rendering struct {
	name    string
	release string
	args    []string
	// want are kinds the rendering must contain, beyond the checks.
	want []string
}

var renderings = []rendering{
	{name: "defaults", want: []string{"CustomResourceDefinition", "Deployment", "DaemonSet", "Secret", "ValidatingWebhookConfiguration", "ClusterRole", "Role", "ServiceAccount", "Service"}},
	{name: "serviceMonitor", args: []string{"--set", "prometheus.serviceMonitor.enabled=true", "--set", "prometheus.serviceMonitor.interval=30s",
		"--set-json", `prometheus.serviceMonitor.additionalLabels={"release":"kube-prometheus"}`}, want: []string{"ServiceMonitor"}},
	{name: "alerts and dashboards", args: []string{"--set", "prometheus.prometheusRule.enabled=true", "--set", "grafana.dashboards.enabled=true",
		"--set-json", `prometheus.prometheusRule.additionalLabels={"release":"kube-prometheus"}`,
		"--set-json", `grafana.dashboards.annotations={"grafana_folder":"IronLB"}`}, want: []string{"PrometheusRule", "ConfigMap"}},
	{name: "dashboards elsewhere", args: []string{"--set", "grafana.dashboards.enabled=true", "--set", "grafana.dashboards.namespace=monitoring",
		"--set", "grafana.dashboards.label=dashboards", "--set", "grafana.dashboards.labelValue=ironlb"}, want: []string{"ConfigMap"}},
	{name: "podMonitor", args: []string{"--set", "prometheus.podMonitor.enabled=true", "--set", "prometheus.podMonitor.tokenSecret.name=scraper"}, want: []string{"PodMonitor"}},
	{name: "prometheus RBAC", args: []string{"--set", "prometheus.serviceAccount=prometheus-k8s", "--set", "prometheus.namespace=monitoring"}, want: []string{"ClusterRoleBinding"}},
	{name: "plain metrics", args: []string{"--set", "prometheus.secureMetrics=false", "--set", "prometheus.scrapeAnnotations=true", "--set", "prometheus.serviceMonitor.enabled=true"}},
	{name: "metrics off", args: []string{"--set", "prometheus.metricsPort=0"}},
	{name: "CRDs off", args: []string{"--set", "crds.enabled=false"}},
	{name: "webhook disabled", args: []string{"--set", "controller.webhookMode=disabled"}},
	{name: "memberlist off", args: []string{"--set", "speaker.memberlist.enabled=false"}},
	{name: "existing memberlist Secret", args: []string{"--set", "speaker.memberlist.existingSecret=mine", "--set", "speaker.memberlist.mlBindAddrOverride=192.0.2.1"}},
	{name: "loadBalancerClass", args: []string{"--set", "loadBalancerClass=ironlb.io/lb"}},
	{name: "scheduling", args: []string{
		"--set", "controller.priorityClassName=system-cluster-critical", "--set", "speaker.priorityClassName=system-node-critical",
		"--set-json", `controller.resources={"requests":{"cpu":"10m","memory":"64Mi"},"limits":{"memory":1000000000}}`,
		"--set-json", `speaker.resources={"requests":{"cpu":0.05}}`,
		"--set-json", `controller.nodeSelector={"zone":"a"}`,
		"--set-json", `speaker.tolerations=[{"key":"dedicated","operator":"Exists","effect":"NoExecute"}]`,
		"--set-json", `controller.affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}]}}}`,
		"--set-json", `controller.podAnnotations={"a":"b"}`, "--set-json", `speaker.labels={"team":"net"}`,
		"--set-json", `imagePullSecrets=[{"name":"regcred"}]`,
		"--set", "controller.runtimeClassName=runc", "--set", "speaker.updateStrategy.rollingUpdate.maxUnavailable=2",
		"--set", "controller.livenessProbe.enabled=false", "--set", "speaker.readinessProbe.enabled=false",
	}},
	{name: "other release name", release: "lb"},
	{name: "no RBAC, given ServiceAccounts", args: []string{"--set", "rbac.create=false",
		"--set", "controller.serviceAccount.create=false", "--set", "controller.serviceAccount.name=c",
		"--set", "speaker.serviceAccount.create=false", "--set", "speaker.serviceAccount.name=s"}},
	{name: "controller only", args: []string{"--set", "speaker.enabled=false"}},
	{name: "speaker only", args: []string{"--set", "controller.enabled=false"}},
}

// helmTemplate renders the chart into namespace metallb-system.
func helmTemplate(t *testing.T, release string, args ...string) []byte {
	t.Helper()
	if release == "" {
		release = "ironlb"
	}
	out, err := run(tool(t, "helm"), append([]string{"template", release, chartDir, "--namespace", "metallb-system",
		"--kube-version", strings.TrimPrefix(k8sVersion, "v")}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// object is a rendered manifest: its kind and name, and its YAML.
type object struct {
	Kind, Name string
	YAML       []byte
}

func objects(t *testing.T, manifests []byte) []object {
	t.Helper()
	var out []object
	for _, doc := range bytes.Split(manifests, []byte("\n---")) {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if meta.Kind != "" {
			out = append(out, object{meta.Kind, meta.Metadata.Name, doc})
		}
	}
	return out
}

func find(t *testing.T, objs []object, kind, name string, into any) bool {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			if err := yaml.UnmarshalStrict(o.YAML, into); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return true
		}
	}
	return false
}

func TestHelmLint(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			args := []string{"lint", "--strict", "--kube-version", strings.TrimPrefix(k8sVersion, "v"), chartDir}
			out, err := run(tool(t, "helm"), append(args, r.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte("0 chart(s) failed")) || bytes.Contains(out, []byte("[WARNING]")) || bytes.Contains(out, []byte("[ERROR]")) {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

func TestHelmUnittest(t *testing.T) {
	out, err := run(tool(t, "helm-unittest"), "--strict", "--color=false", chartDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out)
}

// TestRenderingsAreValid: every rendering passes kubeconform against the
// Kubernetes schemas and our CRDs, and its pods the Pod Security levels.
func TestRenderingsAreValid(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			out := helmTemplate(t, r.release, r.args...)
			kinds := requireValid(t, out)
			for _, k := range r.want {
				if kinds[k] == 0 {
					t.Errorf("no %s rendered", k)
				}
			}
			checkPodSecurity(t, objects(t, out))
		})
	}
}

// checkPodSecurity fails the test on every podSecurityProblems finding.
func checkPodSecurity(t *testing.T, objs []object) {
	t.Helper()
	for _, p := range podSecurityProblems(t, objs) {
		t.Error(p)
	}
}

// podSecurityProblems: every Deployment's pod (the controller) is
// "restricted", so non-root; every DaemonSet's (the speaker) is
// "privileged" and not "baseline" (host network), with NET_RAW its only
// capability and not privileged; every container of both has a read-only
// root filesystem and cannot escalate privileges.
func podSecurityProblems(t *testing.T, objs []object) []string {
	t.Helper()
	var out []string
	containers := func(kind, name string, tmpl *corev1.PodTemplateSpec) {
		for _, c := range tmpl.Spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				out = append(out, fmt.Sprintf("%s %s container %s: root filesystem not read-only", kind, name, c.Name))
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				out = append(out, fmt.Sprintf("%s %s container %s: privilege escalation allowed", kind, name, c.Name))
			}
		}
	}
	for _, o := range objs {
		switch o.Kind {
		case "Deployment":
			var d appsv1.Deployment
			find(t, objs, o.Kind, o.Name, &d)
			if err := podSecurity("restricted", &d.Spec.Template); err != nil {
				out = append(out, fmt.Sprintf("Deployment %s: %v", o.Name, err))
			}
			containers(o.Kind, o.Name, &d.Spec.Template)
		case "DaemonSet":
			var d appsv1.DaemonSet
			find(t, objs, o.Kind, o.Name, &d)
			if err := podSecurity("privileged", &d.Spec.Template); err != nil {
				out = append(out, fmt.Sprintf("DaemonSet %s: %v", o.Name, err))
			}
			if podSecurity("baseline", &d.Spec.Template) == nil {
				out = append(out, fmt.Sprintf("DaemonSet %s passes baseline: no host network?", o.Name))
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				sc := c.SecurityContext
				if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Add) != 1 || sc.Capabilities.Add[0] != "NET_RAW" ||
					len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || (sc.Privileged != nil && *sc.Privileged) {
					out = append(out, fmt.Sprintf("DaemonSet %s container %s: capabilities %+v, want drop ALL, add NET_RAW only, not privileged", o.Name, c.Name, sc))
				}
			}
			containers(o.Kind, o.Name, &d.Spec.Template)
		}
	}
	return out
}

// TestPodSecurityChecksCanFail: each weakening of the chart's security
// settings is caught by podSecurityProblems.
func TestPodSecurityChecksCanFail(t *testing.T) {
	tests := []struct {
		set, want string
	}{
		{"speaker.containerSecurityContext.privileged=true", "not privileged"},
		{"speaker.containerSecurityContext.capabilities.add={NET_RAW,NET_ADMIN}", "NET_RAW only"},
		{"speaker.containerSecurityContext.readOnlyRootFilesystem=false", "DaemonSet ironlb-speaker container speaker: root filesystem not read-only"},
		{"speaker.containerSecurityContext.allowPrivilegeEscalation=true", "DaemonSet ironlb-speaker container speaker: privilege escalation allowed"},
		{"controller.securityContext.runAsNonRoot=false", "Deployment ironlb-controller: violates PodSecurity \"restricted\""},
		{"controller.containerSecurityContext.readOnlyRootFilesystem=false", "Deployment ironlb-controller container controller: root filesystem not read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			problems := podSecurityProblems(t, objects(t, helmTemplate(t, "", "--set", tt.set)))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("--set %s: problems %q, want one containing %q", tt.set, problems, tt.want)
			}
		})
	}
}

// TestSpeakerLabelsMatchMemberlistSelector: the speakers find each other by
// METALLB_ML_LABELS; their pods must carry those labels, MetalLB's.
func TestSpeakerLabelsMatchMemberlistSelector(t *testing.T) {
	objs := objects(t, helmTemplate(t, ""))
	var ds appsv1.DaemonSet
	if !find(t, objs, "DaemonSet", "ironlb-speaker", &ds) {
		t.Fatal("no DaemonSet ironlb-speaker")
	}
	checkMemberlistLabels(t, ds.Spec.Template)
}

func checkMemberlistLabels(t *testing.T, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	var sel string
	for _, e := range tmpl.Spec.Containers[0].Env {
		if e.Name == "METALLB_ML_LABELS" {
			sel = e.Value
		}
	}
	if sel != "app=metallb,component=speaker" {
		t.Errorf("METALLB_ML_LABELS = %q, want MetalLB's app=metallb,component=speaker", sel)
	}
	for _, kv := range strings.Split(sel, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if tmpl.Labels[k] != v {
			t.Errorf("speaker pods lack label %s=%s that --ml-labels selects (labels %v)", k, v, tmpl.Labels)
		}
	}
}

// TestWebhookMatchesController: the controller keeps the caBundle of the
// configuration and the certificate of the Service the chart creates.
func TestWebhookMatchesController(t *testing.T) {
	objs := objects(t, helmTemplate(t, "lb"))
	var d appsv1.Deployment
	if !find(t, objs, "Deployment", "lb-ironlb-controller", &d) {
		t.Fatal("no Deployment lb-ironlb-controller")
	}
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	for kind, name := range map[string]string{"ValidatingWebhookConfiguration": "lb-ironlb-webhook-configuration", "Service": "lb-ironlb-webhook-service", "Secret": "lb-ironlb-webhook-cert"} {
		var o map[string]any
		if !find(t, objs, kind, name, &o) {
			t.Errorf("no %s %s rendered", kind, name)
		}
		if !strings.Contains(args, "="+name) {
			t.Errorf("controller args %q do not name %s %s", args, kind, name)
		}
	}
}

// TestChartRBACIsGenerated: the chart's roles grant exactly what
// controller-gen generates from the code's markers (config/rbac).
func TestChartRBACIsGenerated(t *testing.T) {
	objs := objects(t, helmTemplate(t, ""))
	for _, component := range []string{"controller", "speaker"} {
		gen := objects(t, mustRead(t, filepath.Join(root, "config", "rbac", component, "role.yaml")))
		for _, kind := range []string{"ClusterRole", "Role"} {
			var want, got rbacv1.ClusterRole // Role has the same shape
			if !find(t, gen, kind, "ironlb-"+component, &want) {
				t.Fatalf("config/rbac/%s has no %s", component, kind)
			}
			if !find(t, objs, kind, "ironlb-"+component, &got) {
				t.Fatalf("chart renders no %s ironlb-%s", kind, component)
			}
			if g, w := ruleSet(got.Rules), ruleSet(want.Rules); !equalSets(g, w) {
				t.Errorf("%s ironlb-%s: chart grants %v, generated %v", kind, component, g, w)
			}
		}
	}
}

// TestLeastPrivilege states what the markers must never grant: a speaker
// that writes Services, a controller that touches Pods.
func TestLeastPrivilege(t *testing.T) {
	forbidden := map[string][]string{
		"speaker":    {"/services/create", "/services/update", "/services/patch", "/services/delete", "/services/status/update", "/services/status/patch"},
		"controller": {"/pods/get", "/pods/list", "/pods/watch", "/pods/create", "/pods/update", "/pods/patch", "/pods/delete"},
	}
	for component, bad := range forbidden {
		gen := objects(t, mustRead(t, filepath.Join(root, "config", "rbac", component, "role.yaml")))
		for _, o := range gen {
			var r rbacv1.ClusterRole
			find(t, gen, o.Kind, o.Name, &r)
			granted := ruleSet(r.Rules)
			for _, b := range bad {
				if granted[b] || granted["/*/"+strings.Split(b, "/")[2]] || granted["*/*/*"] {
					t.Errorf("%s %s grants %s", o.Kind, o.Name, b)
				}
			}
		}
	}
}

// ruleSet flattens rules into group/resource/verb strings.
func ruleSet(rules []rbacv1.PolicyRule) map[string]bool {
	s := map[string]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					s[g+"/"+res+"/"+v] = true
				}
			}
		}
		for _, u := range r.NonResourceURLs {
			for _, v := range r.Verbs {
				s["url:"+u+"/"+v] = true
			}
		}
	}
	return s
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
