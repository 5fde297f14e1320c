package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestConfigPassesPromtool: the rendered prometheus.yml is one Debian's
// Prometheus accepts, rules included, and keeps what the dashboards rely
// on (HTTPS with the token, the pod/component labels).
func TestConfigPassesPromtool(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeTargets(filepath.Join(dir, "targets.json"), targetGroups(samplePods())); err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs("../../../charts/ironlb/rules/ironlb.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Config(ConfigOptions{
		TargetsFile: filepath.Join(dir, "targets.json"), TokenFile: filepath.Join(dir, "token"),
		Probers: []string{"172.20.0.100:9200"}, KubeStateMetrics: "172.20.0.1:9202", RuleFiles: []string{rules},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("promtool", "check", "config", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, out, cfg)
	}
	if !strings.Contains(string(out), "SUCCESS: 1 rule files found") {
		t.Errorf("promtool did not read the rule file:\n%s", out)
	}
	for _, want := range []string{"scheme: https", "credentials_file: " + filepath.Join(dir, "token"), "targets.json", "172.20.0.100:9200", "job_name: kube-state-metrics", "172.20.0.1:9202"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("prometheus.yml lacks %q:\n%s", want, cfg)
		}
	}
}

func TestConfigRefusesMissingTargets(t *testing.T) {
	if _, err := Config(ConfigOptions{TokenFile: "token"}); err == nil {
		t.Error("Config without a targets file: no error")
	}
}

func pod(name, component, node, ip string, phase corev1.PodPhase, ports ...corev1.ContainerPort) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: name, Labels: map[string]string{"app.kubernetes.io/component": component}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: component, Ports: ports}}},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip},
	}
}

func samplePods() []corev1.Pod {
	metrics := corev1.ContainerPort{Name: "monitoring", ContainerPort: 9120}
	return []corev1.Pod{
		pod("speaker-b", "speaker", "worker2", "172.20.0.4", corev1.PodRunning, metrics, corev1.ContainerPort{Name: "memberlist-tcp", ContainerPort: 7946}),
		pod("speaker-a", "speaker", "worker", "172.20.0.3", corev1.PodRunning, metrics),
		pod("controller-x", "controller", "worker", "", corev1.PodPending, metrics),
		pod("other", "web", "worker", "10.10.1.5", corev1.PodRunning, corev1.ContainerPort{Name: "http", ContainerPort: 80}),
	}
}

// TestTargetGroups: running pods with a port named monitoring, sorted by
// pod, labelled as the ServiceMonitors label them.
func TestTargetGroups(t *testing.T) {
	got, err := json.Marshal(targetGroups(samplePods()))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"targets":["172.20.0.3:9120"],"labels":{"component":"speaker","namespace":"metallb-system","pod":"speaker-a"}},` +
		`{"targets":["172.20.0.4:9120"],"labels":{"component":"speaker","namespace":"metallb-system","pod":"speaker-b"}}]`
	if string(got) != want {
		t.Errorf("targets\n got %s\nwant %s", got, want)
	}
}
