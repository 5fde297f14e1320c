// Command queries prints, as JSON, every query of every dashboard and
// every alert the chart ships, ready to evaluate against a Prometheus
// (dashboards.Evaluable): the lab e2e runs it, since the PromQL parser
// lives in this module, not the product's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironlb/ironlb/test/dashboards"
)

type query struct {
	Where   string   `json:"where"`
	Expr    string   `json:"expr"`
	Alert   bool     `json:"alert,omitempty"`
	Metrics []string `json:"metrics"` // the metrics it reads
}

func main() {
	chart := flag.String("chart", "charts/ironlb", "the chart directory")
	flag.Parse()
	if err := run(*chart); err != nil {
		fmt.Fprintln(os.Stderr, "queries:", err)
		os.Exit(1)
	}
}

func run(chart string) error {
	files, err := filepath.Glob(filepath.Join(chart, "dashboards", "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no dashboards in %s/dashboards", chart)
	}
	var qs []dashboards.Query
	for _, f := range files {
		dq, err := dashboards.Dashboard(f)
		if err != nil {
			return err
		}
		qs = append(qs, dq...)
	}
	rq, err := dashboards.Rules(filepath.Join(chart, "rules", "ironlb.rules.yaml"))
	if err != nil {
		return err
	}
	qs = append(qs, rq...)
	out := make([]query, 0, len(qs))
	for _, q := range qs {
		e, err := dashboards.Evaluable(q)
		if err != nil {
			return err
		}
		names, err := dashboards.Metrics(q)
		if err != nil {
			return err
		}
		out = append(out, query{Where: q.Where, Expr: e, Alert: q.Alert, Metrics: names})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
