package dashboards

import "testing"

func TestEvaluable(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"a panel keeps its expression, variables substituted",
			Query{Expr: "sum(rate(x_total[$__rate_interval]))"}, "sum(rate(x_total[1m]))"},
		{"an alert loses its threshold",
			Query{Alert: true, Expr: "max by (pool) (a) / max by (pool) (b > 0) > 0.9\n"}, "max by (pool) (a) / max by (pool) (b > 0)"},
		{"an equality with a number is a threshold too",
			Query{Alert: true, Expr: "max by (instance, peer) (metallb_bgp_session_up) == 0"}, "max by (instance, peer) (metallb_bgp_session_up)"},
		{"a comparison of two series keeps its left side",
			Query{Alert: true, Expr: "min(m) < max(m)"}, "min(m)"},
		{"an alert without a comparison is kept",
			Query{Alert: true, Expr: "absent(up{job=\"x\"})"}, `absent(up{job="x"})`},
		{"outer parentheses do not hide the threshold",
			Query{Alert: true, Expr: "(sum(a) - sum(b) > 0.5)"}, "sum(a) - sum(b)"},
		{"a recording rule is not an alert", Query{Expr: "sum(a) > 1"}, "sum(a) > 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Evaluable(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Evaluable(%q) = %q, want %q", tt.q.Expr, got, tt.want)
			}
		})
	}
}
