package dashboards

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/internal/metrics"
)

// recorder is a Registerer that keeps what is registered: every metric's
// name, and which are histograms (they expose _bucket, _sum and _count).
type recorder struct {
	names map[string]bool // name → histogram
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	_, histogram := c.(prometheus.Histogram)
	if _, vec := c.(*prometheus.HistogramVec); vec {
		histogram = true
	}
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			return fmt.Errorf("no name in %s", d)
		}
		r.names[m[1]] = histogram
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// External are series IronLB's alerts may read from other exporters.
var External = map[string]string{
	"kube_daemonset_status_desired_number_scheduled": "kube-state-metrics",
	"kube_daemonset_status_number_ready":             "kube-state-metrics",
}

// Registered returns every series name the controller and the speaker
// export: what internal/metrics registers, histograms expanded.
func Registered() (map[string]bool, error) {
	rc := &recorder{names: map[string]bool{}}
	if _, err := metrics.NewController(rc); err != nil {
		return nil, err
	}
	rs := &recorder{names: map[string]bool{}}
	if _, err := metrics.NewSpeaker(rs, "node"); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range []*recorder{rc, rs} {
		for n, histogram := range r.names {
			out[n] = true
			if histogram {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					out[n+suffix] = true
				}
			}
		}
	}
	return out, nil
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
