package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"gonum.org/v1/plot/vg"

	"github.com/ironlb/ironlb/test/lab/cluster"
	"github.com/ironlb/ironlb/test/lab/monitoring"
	"github.com/ironlb/ironlb/test/lab/timeline"
	"github.com/ironlb/ironlb/test/probe"
)

// proberPort is where mypc's prober serves its metrics.
const proberPort = 9200

// monitor is the lab's observation of the failover: the prober in mypc
// asking svc1 over ARP and HTTP every 20 ms, and Prometheus scraping
// controller, speakers and prober, as the failover dashboard would.
type monitor struct {
	prom    *monitoring.Prometheus
	csvPath string
	csv     *os.File
	stop    context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []probe.Result
}

func (d *demo) startMonitor(ctx context.Context, vip netip.Addr) (*monitor, error) {
	cs, err := d.st.Client()
	if err != nil {
		return nil, err
	}
	token, err := monitoring.Grant(ctx, cs, namespace)
	if err != nil {
		return nil, err
	}
	m := &monitor{csvPath: filepath.Join(d.root, "bin", "demo", "probes.csv")}
	if err := os.MkdirAll(filepath.Dir(m.csvPath), 0o755); err != nil {
		return nil, err
	}
	if m.csv, err = os.Create(m.csvPath); err != nil {
		return nil, err
	}
	proberAddr := fmt.Sprintf("%s:%d", clientIP, proberPort)
	m.prom, err = monitoring.Start(ctx, d.st, cs, monitoring.Options{
		Token: token, IronLBNamespace: namespace, Probers: []string{proberAddr},
		RuleFiles: []string{filepath.Join(d.root, "charts", "ironlb", "rules", "ironlb.rules.yaml")},
	})
	if err != nil {
		m.csv.Close()
		return nil, err
	}
	pctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	reg := prometheus.NewRegistry()
	nsPath := cluster.NetnsPath(client)
	svc1 := []probe.Target{{Service: "default/svc1", IP: vip, Port: 80}}
	m.wg.Go(func() {
		_ = probe.Run(pctx, probe.Options{
			NetNS: nsPath, Targets: func(context.Context) ([]probe.Target, error) { return svc1, nil },
			Registerer: reg, CSV: m.csv, Log: logr.Discard(),
			OnResult: func(r probe.Result) {
				m.mu.Lock()
				m.results = append(m.results, r)
				m.mu.Unlock()
			},
		})
	})
	m.wg.Go(func() { _ = probe.ServeMetrics(pctx, nsPath, proberAddr, reg) })
	// Every target scraped once: two controllers, 4 speakers, the prober,
	// the DaemonSet series.
	want := 2 + len(d.st.Plan.Nodes) + 1 + 1
	if err := poll(ctx, time.Minute, func() error { return m.prom.TargetsUp(ctx, want) }); err != nil {
		m.close()
		return nil, fmt.Errorf("prometheus targets: %w", err)
	}
	return m, nil
}

// requests returns the HTTP probes since t as the failover step reads
// them, in start order.
func (m *monitor) requests(since time.Time) []request {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []request
	for _, r := range m.results {
		if r.Kind == probe.HTTP && !r.Start.Before(since) {
			out = append(out, request{start: r.Start, end: r.Start.Add(r.Latency), ok: r.OK})
		}
	}
	sortRequests(out)
	return out
}

// answeredSince reports whether an HTTP probe started at or after t was
// answered.
func (m *monitor) answeredSince(t time.Time) bool {
	for _, r := range m.requests(t) {
		if r.ok {
			return true
		}
	}
	return false
}

// close stops the prober and Prometheus.
func (m *monitor) close() {
	m.stop()
	m.wg.Wait()
	_ = m.csv.Close()
	_ = m.prom.Stop()
}

// drawTimeline writes the failover's picture from the prober's CSV and
// the new owner's takeover as Prometheus recorded it.
func (m *monitor) drawTimeline(path, title string, vip netip.Addr, kill, stopDone time.Time, tk monitoring.Takeover, names map[string]string) error {
	f, err := os.Open(m.csvPath)
	if err != nil {
		return err
	}
	probes, err := timeline.ReadCSV(f, vip.String())
	f.Close()
	if err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	in := timeline.Failover(title, kill, probes, names, tk.Takeover)
	in.Marks = append(in.Marks, timeline.Mark{Label: "its processes exited (stop done)", At: stopDone})
	return timeline.WritePNG(out, in, 10*vg.Inch, 5*vg.Inch)
}
