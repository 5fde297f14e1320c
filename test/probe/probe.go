// Package probe is the lab's client-side prober: from a client's network
// namespace it asks every VIP for its owner (ARP, IPv4) and for a page
// (HTTP on a new connection) every interval, and turns the answers into
// client-observed outages: Prometheus metrics, and a CSV of every probe
// for plots. It is a test instrument, not part of IronLB.
package probe

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Target is one VIP to probe.
type Target struct {
	Service string // namespace/name
	IP      netip.Addr
	Port    uint16 // HTTP port; 0: ARP only
}

func (t Target) String() string { return fmt.Sprintf("%s %s:%d", t.Service, t.IP, t.Port) }

// Kind is what a probe asks.
type Kind string

const (
	// ARP asks who has the VIP; the answer is the owner's MAC.
	ARP Kind = "arp"
	// HTTP opens a connection to the VIP and reads a page; the answer is
	// the page's first line (the whoami stand-in: the pod's name).
	HTTP Kind = "http"
)

// Defaults, chosen for the lab: a 20 ms interval resolves a 250 ms
// failover into a dozen probes; a 200 ms HTTP timeout is far above a
// connect's time on the lab and far below the kernel's first SYN
// retransmission (1 s), so a probe sent to a dead node's MAC fails instead
// of being rescued by the retransmission.
const (
	DefaultInterval    = 20 * time.Millisecond
	DefaultHTTPTimeout = 200 * time.Millisecond
	// DefaultRefresh is how often Targets is asked again.
	DefaultRefresh = time.Second
)

// Options configure a prober.
type Options struct {
	// NetNS is the path of the network namespace probes come from; empty:
	// the caller's own.
	NetNS string
	// Interface carries ARP probes (default eth0).
	Interface   string
	Interval    time.Duration
	HTTPTimeout time.Duration
	// Targets returns the VIPs to probe; asked every Refresh. A failing
	// call keeps the previous targets.
	Targets func(context.Context) ([]Target, error)
	Refresh time.Duration
	// Registerer gets the ironlab_probe_* metrics; may be nil.
	Registerer prometheus.Registerer
	// CSV, when set, receives one line per probe:
	// unix_ms,service,ip,probe,ok,answer,latency_ms.
	CSV io.Writer
	// OnOutage, when set, hears of every outage as it ends, and
	// OnResult of every probe (with the recorder's lock held: keep them
	// short).
	OnOutage func(t Target, k Kind, length time.Duration)
	OnResult func(Result)
	Log      logr.Logger
}

// Result is one probe's outcome.
type Result struct {
	Start   time.Time
	Target  Target
	Kind    Kind
	OK      bool
	Answer  string // MAC or page line
	Latency time.Duration
	// Err says why a probe failed (HTTP: refused, reset, timed out…);
	// empty when it did not or when nobody answered an ARP request.
	Err string
}

// Run probes until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Targets == nil {
		return errors.New("probe: no Targets function")
	}
	if o.Interface == "" {
		o.Interface = "eth0"
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = DefaultHTTPTimeout
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	r := &recorder{metrics: newMetrics(o.Registerer), outages: map[outageKey]*outage{}, onOutage: o.OnOutage, onResult: o.OnResult}
	if o.CSV != nil {
		r.csv = newCSV(o.CSV)
		if err := r.csv.Write(csvHeader); err != nil {
			return fmt.Errorf("writing the CSV header: %w", err)
		}
	}
	defer r.flush()

	running := map[Target]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, stop := range running {
			stop()
		}
		wg.Wait()
	}()
	refresh := time.NewTicker(o.Refresh)
	defer refresh.Stop()
	for {
		targets, err := o.Targets(ctx)
		if err != nil {
			o.Log.Error(err, "listing the VIPs to probe; keeping the previous ones")
		} else {
			for t, stop := range running {
				if !slices.Contains(targets, t) {
					o.Log.Info("no longer probing", "service", t.Service, "ip", t.IP)
					stop()
					delete(running, t)
				}
			}
			for _, t := range targets {
				if _, ok := running[t]; ok {
					continue
				}
				tctx, stop := context.WithCancel(ctx)
				running[t] = stop
				o.Log.Info("probing", "service", t.Service, "ip", t.IP, "port", t.Port)
				if t.IP.Is4() {
					wg.Go(func() { probeARP(tctx, o, t, r.record) })
				}
				if t.Port != 0 {
					wg.Go(func() { probeHTTP(tctx, o, t, r.record) })
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			r.flush()
		}
	}
}

// csvHeader names the columns of the probe CSV.
var csvHeader = []string{"unix_ms", "service", "ip", "probe", "ok", "answer", "latency_ms"}

func newCSV(w io.Writer) *csv.Writer { return csv.NewWriter(w) }

// recorder turns results into metrics, outages and CSV lines.
type recorder struct {
	metrics  *metrics
	onOutage func(Target, Kind, time.Duration)
	onResult func(Result)
	mu       sync.Mutex
	csv      *csv.Writer
	outages  map[outageKey]*outage
}

type outageKey struct {
	target Target
	kind   Kind
}

// outage follows one (target, kind) series. Probes finish out of order
// (HTTP probes run concurrently), so the series is judged by start time.
type outage struct {
	lastOK       time.Time // start of the latest answered probe
	failingSince time.Time // start of the first unanswered probe after lastOK
}

func (r *recorder) record(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics.observe(res)
	if r.onResult != nil {
		r.onResult(res)
	}
	k := outageKey{res.Target, res.Kind}
	o := r.outages[k]
	if o == nil {
		o = &outage{}
		r.outages[k] = o
	}
	switch {
	case !res.OK:
		if !o.lastOK.IsZero() && res.Start.After(o.lastOK) && (o.failingSince.IsZero() || res.Start.Before(o.failingSince)) {
			o.failingSince = res.Start
		}
	case res.Start.After(o.lastOK):
		if o.failingSince.IsZero() || res.Start.Before(o.failingSince) {
			// Answered before the failures began (finished late).
			o.lastOK = res.Start
			break
		}
		// The outage is the time between the answered probes that
		// bracket the unanswered ones: what a client saw, overstated by
		// at most one interval.
		r.metrics.outageEnded(res, res.Start.Sub(o.lastOK))
		if r.onOutage != nil {
			r.onOutage(res.Target, res.Kind, res.Start.Sub(o.lastOK))
		}
		o.lastOK, o.failingSince = res.Start, time.Time{}
	}
	if r.csv != nil {
		_ = r.csv.Write([]string{
			strconv.FormatInt(res.Start.UnixMilli(), 10), res.Target.Service, res.Target.IP.String(), string(res.Kind),
			strconv.FormatBool(res.OK), res.Answer, strconv.FormatFloat(res.Latency.Seconds()*1000, 'f', 2, 64),
		})
	}
}

func (r *recorder) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.csv != nil {
		r.csv.Flush()
	}
}
