package probe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the prober's series. They are the lab's, named ironlab_*,
// and never appear in IronLB's own dashboards: the product cannot see
// what a client sees.
type metrics struct {
	requests   *prometheus.CounterVec
	up         *prometheus.GaugeVec
	outages    *prometheus.HistogramVec
	lastOutage *prometheus.GaugeVec
	lastEnd    *prometheus.GaugeVec
}

// outageBuckets span a fast failover (tens of ms) to MetalLB's defaults
// (seconds to tens of seconds).
var outageBuckets = []float64{.025, .05, .1, .15, .2, .25, .3, .4, .5, .75, 1, 2, 5, 10, 20, 30}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironlab", Subsystem: "probe", Name: "requests_total",
			Help: "Probes sent to a VIP, by result (ok or failed).",
		}, []string{"service", "ip", "probe", "result"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ironlab", Subsystem: "probe", Name: "up",
			Help: "1 if the latest probe of the VIP was answered.",
		}, []string{"service", "ip", "probe"}),
		outages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ironlab", Subsystem: "probe", Name: "outage_seconds",
			Help:    "Client-observed outages: time between the answered probes around unanswered ones.",
			Buckets: outageBuckets,
		}, []string{"probe"}),
		lastOutage: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ironlab", Subsystem: "probe", Name: "last_outage_seconds",
			Help: "Length of the VIP's latest client-observed outage.",
		}, []string{"service", "ip", "probe"}),
		lastEnd: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ironlab", Subsystem: "probe", Name: "last_outage_end_timestamp_seconds",
			Help: "Unix time of the first answered probe after the VIP's latest outage.",
		}, []string{"service", "ip", "probe"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.up, m.outages, m.lastOutage, m.lastEnd)
	}
	return m
}

func (m *metrics) observe(r Result) {
	result, up := "failed", 0.0
	if r.OK {
		result, up = "ok", 1
	}
	ip, kind := r.Target.IP.String(), string(r.Kind)
	m.requests.WithLabelValues(r.Target.Service, ip, kind, result).Inc()
	m.up.WithLabelValues(r.Target.Service, ip, kind).Set(up)
}

func (m *metrics) outageEnded(r Result, length time.Duration) {
	ip, kind := r.Target.IP.String(), string(r.Kind)
	m.outages.WithLabelValues(kind).Observe(length.Seconds())
	m.lastOutage.WithLabelValues(r.Target.Service, ip, kind).Set(length.Seconds())
	m.lastEnd.WithLabelValues(r.Target.Service, ip, kind).Set(float64(r.Start.UnixNano()) / 1e9)
}
