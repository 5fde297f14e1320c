// Package monitoring runs Debian's Prometheus on an ironlab cluster as a
// cluster's Prometheus would run: it scrapes IronLB's pods' /metrics with
// a ServiceAccount token the chart authorizes, scrapes the lab's probers
// and the DaemonSet series of kube-state-metrics (daemonsets.go),
// and evaluates IronLB's alert rules, so dashboards and alerts can be
// checked against real series. Debian builds Prometheus without Kubernetes
// discovery, so the lab lists the pods and writes them to a file_sd file.
package monitoring

import (
	"fmt"
	"time"

	"sigs.k8s.io/yaml"
)

// Where Prometheus' identity lives in the cluster: the chart binds its
// metrics reader role to this ServiceAccount when installed with
// prometheus.serviceAccount=prometheus and prometheus.namespace=monitoring.
const (
	Namespace      = "monitoring"
	ServiceAccount = "prometheus"
)

// DefaultScrapeInterval is short so a test sees a failover's series within
// seconds; the lab's four nodes make it cheap.
const DefaultScrapeInterval = time.Second

// ConfigOptions are what prometheus.yml is made of.
type ConfigOptions struct {
	// TargetsFile lists IronLB's pods (file_sd JSON, see writeTargets).
	TargetsFile string
	TokenFile   string
	// Probers are host:port of the lab's client probers.
	Probers []string
	// KubeStateMetrics is host:port of what serves kube-state-metrics'
	// DaemonSet series (job "kube-state-metrics", as kube-prometheus
	// names it); empty: none.
	KubeStateMetrics string
	RuleFiles        []string
	ScrapeInterval   time.Duration
}

// Config renders prometheus.yml: IronLB's pods come from the targets
// file, are scraped over HTTPS with the token (secureMetrics) and carry
// the namespace, pod and component labels the file gives them;
// probers and the kube-state-metrics series are static targets.
func Config(o ConfigOptions) ([]byte, error) {
	if o.TargetsFile == "" || o.TokenFile == "" {
		return nil, fmt.Errorf("prometheus config: a targets file and a token file are required")
	}
	interval := o.ScrapeInterval
	if interval == 0 {
		interval = DefaultScrapeInterval
	}
	auth := map[string]any{"credentials_file": o.TokenFile}
	ironlb := map[string]any{
		"job_name": "ironlb",
		"scheme":   "https",
		// The controller and speakers serve /metrics with a self-signed
		// certificate, as MetalLB's do; the token is what is checked.
		"tls_config":    map[string]any{"insecure_skip_verify": true},
		"authorization": auth,
		"file_sd_configs": []any{map[string]any{
			"files": []string{o.TargetsFile},
			// The file is rewritten as pods come and go; Prometheus
			// also watches it, this is the fallback.
			"refresh_interval": "5s",
		}},
	}
	scrapes := []any{ironlb}
	if len(o.Probers) > 0 {
		scrapes = append(scrapes, map[string]any{
			"job_name":       "ironlab-probe",
			"static_configs": []any{map[string]any{"targets": o.Probers}},
		})
	}
	if o.KubeStateMetrics != "" {
		scrapes = append(scrapes, map[string]any{
			"job_name":       "kube-state-metrics",
			"static_configs": []any{map[string]any{"targets": []string{o.KubeStateMetrics}}},
		})
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     interval.String(),
			"evaluation_interval": interval.String(),
			// A scrape must end before the next starts.
			"scrape_timeout": interval.String(),
		},
		"scrape_configs": scrapes,
	}
	if len(o.RuleFiles) > 0 {
		cfg["rule_files"] = o.RuleFiles
	}
	return yaml.Marshal(cfg)
}
