package monitoring

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// targetGroup is one entry of a Prometheus file_sd file.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// metricsPortName is the container port the chart names for /metrics.
const metricsPortName = "monitoring"

// targetGroups turns running pods into scrape targets: one per pod with a
// port named "monitoring", labelled as the chart's ServiceMonitors label
// theirs. Sorted, so an unchanged set writes an unchanged file.
func targetGroups(pods []corev1.Pod) []targetGroup {
	var out []targetGroup
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				if port.Name != metricsPortName {
					continue
				}
				out = append(out, targetGroup{
					Targets: []string{net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))},
					Labels: map[string]string{
						// No node label: the speakers' series carry
						// their own, which a target label would rename.
						"namespace": p.Namespace, "pod": p.Name,
						"component": p.Labels["app.kubernetes.io/component"],
					},
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b targetGroup) int {
		if a.Labels["pod"] < b.Labels["pod"] {
			return -1
		}
		if a.Labels["pod"] > b.Labels["pod"] {
			return 1
		}
		return 0
	})
	return out
}

// writeTargets replaces the file at once (rename), so Prometheus never
// reads half of it.
func writeTargets(path string, groups []targetGroup) error {
	if groups == nil {
		groups = []targetGroup{}
	}
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".targets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
