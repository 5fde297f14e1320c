package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// Query is one PromQL expression and where it is.
type Query struct {
	Where string // file: panel "title" / alert NAME
	Expr  string
	Alert bool // an alerting rule's expression
}

// grafanaVariables are the built-in variables the dashboards use, with a
// value that makes the expression valid PromQL (Grafana substitutes them
// before sending the query).
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "30s",
	"$__range", "1h",
)

// Dashboard returns every query of every panel of a dashboard JSON file,
// rows' nested panels included.
func Dashboard(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Query
	var walk func([]json.RawMessage) error
	walk = func(raw []json.RawMessage) error {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				return fmt.Errorf("%s: panel %q has no query", filepath.Base(path), p.Title)
			}
			for _, t := range p.Targets {
				out = append(out, Query{Where: fmt.Sprintf("%s: panel %q", filepath.Base(path), p.Title), Expr: t.Expr})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(d.Panels)
}

// Rules returns the expression of every rule of a Prometheus rule file.
func Rules(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			out = append(out, Query{Where: fmt.Sprintf("%s: rule %s", filepath.Base(path), name), Expr: r.Expr, Alert: r.Alert != ""})
		}
	}
	return out, nil
}

// Metrics parses a query and returns the metric names it selects. A
// selector without a metric name (only label matchers) is an error: the
// check could not tell what it reads.
func Metrics(q Query) ([]string, error) {
	expr := grafanaVariables.Replace(q.Expr)
	if strings.Contains(expr, "$") {
		return nil, fmt.Errorf("%s: %q uses a dashboard variable this check does not know", q.Where, q.Expr)
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %w", q.Where, q.Expr, err)
	}
	var names []string
	var bad error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			bad = fmt.Errorf("%s: %q: selector %s names no metric", q.Where, q.Expr, vs)
			return nil
		}
		names = append(names, vs.Name)
		return nil
	})
	return names, bad
}

// Check returns an error for each query that does not parse or reads a
// metric that is neither registered nor External.
func Check(queries []Query, registered map[string]bool) []error {
	var errs []error
	for _, q := range queries {
		names, err := Metrics(q)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range names {
			if !registered[n] && External[n] == "" {
				errs = append(errs, fmt.Errorf("%s: %q reads %s, which the code does not export", q.Where, q.Expr, n))
			}
		}
	}
	return errs
}

// Evaluable is a query as it can be sent to Prometheus' HTTP API: Grafana's
// built-in variables substituted, and for an alert the final comparison
// taken off, so that it returns the series the alert watches whether or
// not it fires (`x > 0.9` → `x`, `in_use >= total` → `in_use`). An alert
// whose expression is no comparison keeps its expression.
func Evaluable(q Query) (string, error) {
	expr := grafanaVariables.Replace(q.Expr)
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("%s: %q: %w", q.Where, q.Expr, err)
	}
	if !q.Alert {
		return strings.TrimSpace(expr), nil
	}
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	if b, ok := e.(*parser.BinaryExpr); ok && b.Op.IsComparisonOperator() {
		return b.LHS.String(), nil
	}
	return e.String(), nil
}
