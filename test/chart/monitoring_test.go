package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestAlertsAndDashboardsAsShipped: the PrometheusRule's spec is the rule
// file promtool checks, and each dashboard ConfigMap holds its JSON file
// byte for byte, so the offline checks of test/dashboards hold for what
// the chart installs.
func TestAlertsAndDashboardsAsShipped(t *testing.T) {
	objs := objects(t, helmTemplate(t, "", "--set", "prometheus.prometheusRule.enabled=true", "--set", "grafana.dashboards.enabled=true"))

	var rule struct {
		APIVersion, Kind string
		Metadata         map[string]any
		Spec             map[string]any
	}
	if !find(t, objs, "PrometheusRule", "ironlb", &rule) {
		t.Fatal("no PrometheusRule ironlb")
	}
	data, err := os.ReadFile(filepath.Join(root, chartDir, "rules", "ironlb.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rule.Spec, file) {
		t.Errorf("the PrometheusRule's spec differs from rules/ironlb.rules.yaml:\n%v\n%v", rule.Spec, file)
	}

	files, err := filepath.Glob(filepath.Join(root, chartDir, "dashboards", "*.json"))
	if err != nil || len(files) != 2 {
		t.Fatalf("dashboards: %v (%v)", files, err)
	}
	for name, file := range map[string]string{
		"ironlb-failover-timing-dashboard": "ironlb-failover-timing.json",
		"ironlb-overview-dashboard":        "ironlb-overview.json",
	} {
		var cm corev1.ConfigMap
		if !find(t, objs, "ConfigMap", name, &cm) {
			t.Errorf("no ConfigMap %s", name)
			continue
		}
		want, err := os.ReadFile(filepath.Join(root, chartDir, "dashboards", file))
		if err != nil {
			t.Fatal(err)
		}
		// The template's block scalar drops the file's final newline.
		if got := cm.Data[file]; got+"\n" != string(want) {
			t.Errorf("ConfigMap %s: %s differs from dashboards/%s", name, file, file)
		}
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("ConfigMap %s: labels %v, want grafana_dashboard: \"1\"", name, cm.Labels)
		}
	}
}
