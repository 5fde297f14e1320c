package dashboards

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDashboardLinter: Grafana's dashboard-linter, strict, passes on every
// dashboard; the exclusions in testdata/dashboard-linter.yaml carry their
// reasons. The linter is built from tools/dashboard-linter (about two
// minutes the first time, cached after).
func TestDashboardLinter(t *testing.T) {
	config, err := filepath.Abs("testdata/dashboard-linter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(chartDir, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("go", "tool", "dashboard-linter", "lint", "--strict", "-c", config, abs)
		cmd.Dir = "../../tools/dashboard-linter"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("dashboard-linter %s: %v\n%s", filepath.Base(f), err, out)
		}
	}
}
