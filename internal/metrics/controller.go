package metrics

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// Controller holds the controller's collectors.
type Controller struct {
	// AddressesInUse is metallb_allocator_addresses_in_use_total{pool}.
	AddressesInUse *prometheus.GaugeVec
	// AddressesTotal is metallb_allocator_addresses_total{pool}.
	AddressesTotal *prometheus.GaugeVec
	// The same per family: metallb_allocator_ipv4_addresses_in_use_total
	// and so on.
	IPv4InUse, IPv6InUse, IPv4Total, IPv6Total *prometheus.GaugeVec
	// ServicesAllocated is metallb_allocator_services_allocated_total{pool}.
	ServicesAllocated *prometheus.GaugeVec
	Client            *Client
}

// Pool is one pool's counters.
type Pool struct {
	Services, IPv4InUse, IPv6InUse, IPv4Total, IPv6Total int64
}

// SetPool publishes a pool's counters; the totals saturate at the largest
// int64 for huge IPv6 pools, as MetalLB's do.
func (c *Controller) SetPool(name string, p Pool) {
	c.AddressesInUse.WithLabelValues(name).Set(float64(p.IPv4InUse + p.IPv6InUse))
	c.AddressesTotal.WithLabelValues(name).Set(float64(saturatedSum(p.IPv4Total, p.IPv6Total)))
	c.IPv4InUse.WithLabelValues(name).Set(float64(p.IPv4InUse))
	c.IPv6InUse.WithLabelValues(name).Set(float64(p.IPv6InUse))
	c.IPv4Total.WithLabelValues(name).Set(float64(p.IPv4Total))
	c.IPv6Total.WithLabelValues(name).Set(float64(p.IPv6Total))
	c.ServicesAllocated.WithLabelValues(name).Set(float64(p.Services))
}

// DeletePool drops a deleted pool's series.
func (c *Controller) DeletePool(name string) {
	for _, v := range c.poolVecs() {
		v.DeleteLabelValues(name)
	}
}

// ResetPools drops every pool's series: a replica that stops leading no
// longer knows the pools' counters, and a stale copy beside the new
// leader's would mislead sums and alerts.
func (c *Controller) ResetPools() {
	for _, v := range c.poolVecs() {
		v.Reset()
	}
}

func (c *Controller) poolVecs() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{c.AddressesInUse, c.AddressesTotal, c.IPv4InUse, c.IPv6InUse, c.IPv4Total, c.IPv6Total, c.ServicesAllocated}
}

func saturatedSum(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// NewController creates the controller's collectors and registers them.
func NewController(reg prometheus.Registerer) (*Controller, error) {
	c := &Controller{
		AddressesInUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "allocator", Name: "addresses_in_use_total",
			Help: "Number of IP addresses in use, per pool.",
		}, []string{"pool"}),
		AddressesTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "allocator", Name: "addresses_total",
			Help: "Number of usable IP addresses, per pool (saturated for huge IPv6 pools).",
		}, []string{"pool"}),
		IPv4InUse:         poolGauge("ipv4_addresses_in_use_total", "Number of IPv4 addresses in use, per pool."),
		IPv6InUse:         poolGauge("ipv6_addresses_in_use_total", "Number of IPv6 addresses in use, per pool."),
		IPv4Total:         poolGauge("ipv4_addresses_total", "Number of usable IPv4 addresses, per pool."),
		IPv6Total:         poolGauge("ipv6_addresses_total", "Number of usable IPv6 addresses, per pool (saturated for huge pools)."),
		ServicesAllocated: poolGauge("services_allocated_total", "Number of Services holding addresses of the pool."),
	}
	for _, col := range c.poolVecs() {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	client, err := NewClient(reg)
	if err != nil {
		return nil, err
	}
	c.Client = client
	return c, nil
}

func poolGauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "metallb", Subsystem: "allocator", Name: name, Help: help}, []string{"pool"})
}

// Client holds MetalLB's configuration-loading metrics, shared by the
// controller and the speaker.
type Client struct {
	// Updates counts configuration updates processed.
	Updates prometheus.Counter
	// UpdateErrors counts configuration updates that failed.
	UpdateErrors prometheus.Counter
	// ConfigLoaded is 1 once a valid configuration has been loaded.
	ConfigLoaded prometheus.Gauge
	// ConfigStale is 1 while the newest configuration is invalid and the
	// last valid one stays in force.
	ConfigStale prometheus.Gauge
}

// NewClient creates the configuration-loading metrics and registers them.
func NewClient(reg prometheus.Registerer) (*Client, error) {
	c := &Client{
		Updates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "updates_total",
			Help: "Number of configuration updates processed.",
		}),
		UpdateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "update_errors_total",
			Help: "Number of configuration updates that failed.",
		}),
		ConfigLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "config_loaded_bool",
			Help: "1 once a valid configuration has been loaded.",
		}),
		ConfigStale: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "config_stale_bool",
			Help: "1 while running on a stale configuration because the newest one is invalid.",
		}),
	}
	for _, col := range []prometheus.Collector{c.Updates, c.UpdateErrors, c.ConfigLoaded, c.ConfigStale} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return c, nil
}
