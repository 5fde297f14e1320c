// Package dashboards checks, offline, the Grafana dashboards and the alert
// rules the chart ships: every PromQL expression parses, names only metrics
// the code registers (internal/metrics, built on a recording registry), and
// promtool accepts and unit-tests the rule file; Grafana's dashboard-linter
// passes strict.
//
// It is a module of its own: Prometheus' PromQL parser
// (github.com/prometheus/prometheus) would raise the product's Kubernetes
// libraries to a release IronLB does not build against. It compiles
// internal/metrics through a replace of the main module.
package dashboards
