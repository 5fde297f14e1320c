package dashboards

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	chartDir  = "../../charts/ironlb"
	ruleFile  = chartDir + "/rules/ironlb.rules.yaml"
	ruleTests = "testdata/ironlb.rules.test.yaml"
)

// shipped returns every query of every dashboard and alert the chart ships.
func shipped(t *testing.T) []Query {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ironlb-failover-timing.json", "ironlb-overview.json"}
	var got []string
	var qs []Query
	for _, f := range files {
		got = append(got, filepath.Base(f))
		dq, err := Dashboard(f)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, dq...)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("dashboards %v, want %v", got, want)
	}
	rq, err := Rules(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(rq) == 0 {
		t.Fatalf("%s: no rules", ruleFile)
	}
	return append(qs, rq...)
}

// TestEveryQueryReadsExportedMetrics: every panel's and every alert's
// PromQL parses and reads only metrics internal/metrics registers.
func TestEveryQueryReadsExportedMetrics(t *testing.T) {
	registered, err := Registered()
	if err != nil {
		t.Fatal(err)
	}
	qs := shipped(t)
	for _, err := range Check(qs, registered) {
		t.Error(err)
	}
	// Every IronLB metric appears on a dashboard or in an alert: a metric
	// nobody can see is either missing from the dashboards or dead code.
	used := map[string]bool{}
	for _, q := range qs {
		names, _ := Metrics(q)
		for _, n := range names {
			used[n] = true
		}
	}
	for _, n := range sorted(registered) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if used[base] || used[base+"_bucket"] || used[base+"_sum"] || used[base+"_count"] {
			continue
		}
		t.Errorf("%s is exported but no dashboard or alert reads it", n)
	}
	t.Logf("%d queries checked against %d registered series names", len(qs), len(registered))
}

// TestCheckRefusesUnknownMetrics: the check fails a dashboard that reads a
// metric the code does not export, a query that does not parse, and one
// with a dashboard variable it cannot substitute.
func TestCheckRefusesUnknownMetrics(t *testing.T) {
	registered, err := Registered()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr, want string
	}{
		{`sum(rate(ironlb_layer2_takeovers_total[$__rate_interval]))`, "ironlb_layer2_takeovers_total, which the code does not export"},
		{`histogram_quantile(0.99, sum by (le) (rate(ironlb_layer2_takeover_seconds_bucket[5m]))) and on() metallb_speaker_anounced`, "metallb_speaker_anounced"},
		{`rate(ironlb_layer2_ownership_changes_total[5m]`, "unclosed"},
		{`metallb_speaker_announced{node="$node"}`, "dashboard variable"},
		{`{__name__=~"metallb_.*"}`, "names no metric"},
	} {
		errs := Check([]Query{{Where: "test", Expr: tc.expr}}, registered)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: errors %v, want one containing %q", tc.expr, errors.Join(errs...), tc.want)
		}
	}
	// A histogram's series are known by their suffixes; a gauge's are not.
	ok := []Query{{Expr: `ironlb_layer2_failover_seconds_bucket`}, {Expr: `ironlb_layer2_takeover_seconds_count`}}
	if errs := Check(ok, registered); len(errs) > 0 {
		t.Errorf("histogram series refused: %v", errs)
	}
	if errs := Check([]Query{{Expr: `ironlb_speaker_members_alive_count`}}, registered); len(errs) != 1 {
		t.Errorf("a gauge with a histogram suffix was accepted")
	}
}

// promtool is Debian's (make deps installs package prometheus).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run `make deps` (Debian package prometheus)")
	}
	return p
}

// TestRulesPromtool: promtool accepts the rule file (syntax, PromQL,
// templates of the annotations) and its unit tests: each alert fires on
// the condition it names and stays quiet otherwise.
func TestRulesPromtool(t *testing.T) {
	pt := promtool(t)
	if out, err := exec.Command(pt, "check", "rules", ruleFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// promtool test rules finds rule files relative to the test file.
	dir := t.TempDir()
	data, err := os.ReadFile(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ironlb.rules.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(ruleTests)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tests.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pt, "test", "rules", filepath.Join(dir, "tests.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertIsUnitTested: each alert of the rule file has a promtool
// unit test that expects it to fire.
func TestEveryAlertIsUnitTested(t *testing.T) {
	rq, err := Rules(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(ruleTests)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range rq {
		name := q.Where[strings.LastIndex(q.Where, " ")+1:]
		if !strings.Contains(string(tests), "alertname: "+name+"\n") {
			t.Errorf("%s: no promtool unit test in %s", name, ruleTests)
		}
	}
}
