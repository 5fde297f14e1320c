package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Controller holds the controller's collectors.
type Controller struct {
	// AddressesInUse is metallb_allocator_addresses_in_use_total{pool}.
	AddressesInUse *prometheus.GaugeVec
	// AddressesTotal is metallb_allocator_addresses_total{pool}.
	AddressesTotal *prometheus.GaugeVec
	Client         *Client
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
	}
	for _, col := range []prometheus.Collector{c.AddressesInUse, c.AddressesTotal} {
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
