package monitoring

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
)

// DaemonSetsPort is where the lab serves the DaemonSet series, on the
// gateway (the machine's side of the lab network).
const DaemonSetsPort = 9202

// kube-state-metrics cannot be built here (its module is refused by the
// module proxy), and the IronLBSpeakerMissing alert reads two of its
// series. daemonSetSeries exports exactly those two, with
// kube-state-metrics' names and labels, from the DaemonSets' status in the
// apiserver: the alert is evaluated on what the cluster says, and a name or
// label the alert gets wrong still returns nothing.
var (
	desiredDesc = prometheus.NewDesc("kube_daemonset_status_desired_number_scheduled",
		"The number of nodes that should be running the daemon pod.", []string{"namespace", "daemonset"}, nil)
	readyDesc = prometheus.NewDesc("kube_daemonset_status_number_ready",
		"The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
		[]string{"namespace", "daemonset"}, nil)
)

// daemonSetSeries is a prometheus.Collector of the latest DaemonSet list.
type daemonSetSeries struct {
	mu   sync.Mutex
	sets []appsv1.DaemonSet
}

func (d *daemonSetSeries) set(sets []appsv1.DaemonSet) {
	d.mu.Lock()
	d.sets = sets
	d.mu.Unlock()
}

func (d *daemonSetSeries) Describe(ch chan<- *prometheus.Desc) {
	ch <- desiredDesc
	ch <- readyDesc
}

func (d *daemonSetSeries) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.sets {
		ch <- prometheus.MustNewConstMetric(desiredDesc, prometheus.GaugeValue, float64(s.Status.DesiredNumberScheduled), s.Namespace, s.Name)
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, float64(s.Status.NumberReady), s.Namespace, s.Name)
	}
}

// serveDaemonSets serves d on addr until srv is closed; done receives
// Serve's error then.
func serveDaemonSets(addr string, d *daemonSetSeries) (srv *http.Server, done <-chan error, err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(d)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("serving the DaemonSet series: %w", err)
	}
	srv = &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		served <- err
	}()
	return srv, served, nil
}
