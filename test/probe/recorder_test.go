package probe

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRecorderOutages feeds probe results in the order they finish (HTTP
// probes finish out of order) and checks which outages are counted.
func TestRecorderOutages(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type probe struct {
		ms int
		ok bool
	}
	tests := []struct {
		name       string
		finished   []probe // in the order results arrive
		wantCount  int
		wantLastMS float64
	}{
		{"all answered: no outage", []probe{{0, true}, {20, true}, {40, true}}, 0, 0},
		{"failures before the first answer are not an outage of a VIP seen up",
			[]probe{{0, false}, {20, false}, {40, true}, {60, true}}, 0, 0},
		{"an outage lasts from the last answer before to the first answer after",
			[]probe{{0, true}, {20, false}, {40, false}, {60, false}, {80, true}}, 1, 80},
		{"failures finishing after the recovery (timeouts) do not reopen it",
			[]probe{{0, true}, {20, false}, {100, true}, {40, false}, {60, false}, {120, true}}, 1, 100},
		{"two outages are two",
			[]probe{{0, true}, {20, false}, {40, true}, {60, false}, {80, false}, {100, true}}, 2, 60},
		{"an answer finishing late does not end an outage that started after it",
			[]probe{{0, true}, {40, false}, {20, true}, {60, true}}, 1, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			r := &recorder{metrics: newMetrics(reg), outages: map[outageKey]*outage{}}
			target := Target{Service: "default/svc1", IP: netip.MustParseAddr("10.0.0.1"), Port: 80}
			for _, p := range tt.finished {
				r.record(Result{Start: at(p.ms), Target: target, Kind: HTTP, OK: p.ok})
			}
			if got := histogramCount(t, reg); got != tt.wantCount {
				t.Errorf("outages counted: %d, want %d", got, tt.wantCount)
			}
			if tt.wantCount > 0 {
				last := testutil.ToFloat64(r.metrics.lastOutage.WithLabelValues("default/svc1", "10.0.0.1", "http")) * 1000
				if diff := last - tt.wantLastMS; diff > 0.001 || diff < -0.001 {
					t.Errorf("last outage %.3f ms, want %.0f ms", last, tt.wantLastMS)
				}
			}
		})
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "ironlab_probe_outage_seconds" {
			n := 0
			for _, m := range mf.GetMetric() {
				n += int(m.GetHistogram().GetSampleCount())
			}
			return n
		}
	}
	return 0
}

func TestRecorderCSV(t *testing.T) {
	var b strings.Builder
	r := &recorder{metrics: newMetrics(nil), outages: map[outageKey]*outage{}}
	r.csv = newCSV(&b)
	target := Target{Service: "default/svc1", IP: netip.MustParseAddr("10.0.0.1")}
	r.record(Result{Start: time.UnixMilli(1500), Target: target, Kind: ARP, OK: true, Answer: "aa:bb:cc:dd:ee:ff", Latency: 1500 * time.Microsecond})
	r.flush()
	want := "1500,default/svc1,10.0.0.1,arp,true,aa:bb:cc:dd:ee:ff,1.50\n"
	if b.String() != want {
		t.Errorf("CSV line %q, want %q", b.String(), want)
	}
}
