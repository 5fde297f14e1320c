package layer2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// Metrics receives per-VIP packet counts; nil-safe no-op by default.
type Metrics interface {
	RequestReceived(ip netip.Addr)
	ResponseSent(ip netip.Addr)
	GratuitousSent(ip netip.Addr)
}

type noMetrics struct{}

func (noMetrics) RequestReceived(netip.Addr) {}
func (noMetrics) ResponseSent(netip.Addr)    {}
func (noMetrics) GratuitousSent(netip.Addr)  {}

// Options configure an Announcer.
type Options struct {
	Log     logr.Logger
	Clock   clock.WithTicker
	Metrics Metrics
	// Burst is when announcements are sent after a VIP is gained;
	// DefaultBurst when nil.
	Burst []time.Duration
	// StopLinger is how long Run keeps answering after its context ends.
	// A stopping speaker leaves memberlist at once, so its successors
	// announce within milliseconds; answering meanwhile means no client
	// asks into silence during the handoff. DefaultStopLinger when zero;
	// negative stops at once.
	StopLinger time.Duration
}

// DefaultStopLinger covers the successor's detection of a graceful leave
// (gossip, tens of milliseconds) and its first announcement with a wide
// margin, and is far below the pod's termination grace period.
const DefaultStopLinger = time.Second

// Announcer answers for a set of VIPs on a set of interfaces. Run owns every
// goroutine it starts; Set changes what is announced.
//
// mu guards ifaces and vips; packet sending never holds it.
type Announcer struct {
	opts Options

	mu     sync.Mutex
	ctx    context.Context // Run's, set while running
	wg     sync.WaitGroup
	ifaces map[string]*responder
	vips   map[netip.Addr]map[string]bool // VIP → interfaces it is announced on
	bursts map[burstKey]context.CancelFunc
}

type burstKey struct {
	ip    netip.Addr
	iface string
}

// New returns an Announcer; nothing runs until Run.
func New(o Options) *Announcer {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Burst == nil {
		o.Burst = DefaultBurst
	}
	if o.StopLinger == 0 {
		o.StopLinger = DefaultStopLinger
	}
	return &Announcer{opts: o, ifaces: map[string]*responder{}, vips: map[netip.Addr]map[string]bool{}, bursts: map[burstKey]context.CancelFunc{}}
}

// Run serves until ctx ends, then stops answering, closes every socket and
// waits for its goroutines.
func (a *Announcer) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.ctx != nil {
		a.mu.Unlock()
		return errors.New("layer2: Run called twice")
	}
	// Responders and bursts outlive ctx by StopLinger: they run on serve,
	// which ends StopLinger after ctx.
	serve, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	a.ctx = serve
	a.mu.Unlock()
	<-ctx.Done()
	if a.opts.StopLinger > 0 {
		a.opts.Log.Info("stopping: still answering while the successors take over", "for", a.opts.StopLinger)
		t := a.opts.Clock.NewTimer(a.opts.StopLinger)
		<-t.C()
	}
	stop()
	a.mu.Lock()
	for _, r := range a.ifaces {
		r.close()
	}
	a.ifaces = map[string]*responder{}
	a.vips = map[netip.Addr]map[string]bool{}
	a.mu.Unlock()
	a.wg.Wait()
	return nil
}

// Owns reports whether this node currently answers for ip.
func (a *Announcer) Owns(ip netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.vips[ip]) > 0
}

// Set makes the announced VIPs exactly want (VIP → interface names). A VIP
// that is new on an interface is answered for at once and announced with a
// burst; a VIP that is gone stops being answered at once. Interfaces are
// opened on first use. Errors name the interface; the other interfaces are
// still served.
func (a *Announcer) Set(want map[netip.Addr][]string) error {
	a.mu.Lock()
	ctx := a.ctx
	if ctx == nil || ctx.Err() != nil {
		a.mu.Unlock()
		return errors.New("layer2: Set before Run, or after it stopped")
	}
	var errs []error
	var gained []burstKey
	next := map[netip.Addr]map[string]bool{}
	for ip, ifaces := range want {
		for _, name := range ifaces {
			r, err := a.responderFor(ctx, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := r.add(ip); err != nil {
				errs = append(errs, fmt.Errorf("announcing %s on %s: %w", ip, name, err))
				continue
			}
			if next[ip] == nil {
				next[ip] = map[string]bool{}
			}
			next[ip][name] = true
			if !a.vips[ip][name] {
				gained = append(gained, burstKey{ip, name})
			}
		}
	}
	for ip, ifaces := range a.vips {
		for name := range ifaces {
			if next[ip][name] {
				continue
			}
			if r := a.ifaces[name]; r != nil {
				r.remove(ip)
			}
			if cancel := a.bursts[burstKey{ip, name}]; cancel != nil {
				cancel()
				delete(a.bursts, burstKey{ip, name})
			}
		}
	}
	a.vips = next
	for _, k := range gained {
		a.startBurst(ctx, k)
	}
	a.mu.Unlock()
	return errors.Join(errs...)
}

// responderFor opens the interface on first use. Caller holds mu.
func (a *Announcer) responderFor(ctx context.Context, name string) (*responder, error) {
	if r, ok := a.ifaces[name]; ok {
		return r, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	r, err := openResponder(ifi, a.opts.Log.WithValues("interface", name), a.opts.Metrics)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	a.ifaces[name] = r
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		r.serve(ctx)
	}()
	return r, nil
}

// startBurst sends the announcements for a gained VIP on its schedule, on
// the injected clock. Caller holds mu.
func (a *Announcer) startBurst(ctx context.Context, k burstKey) {
	if cancel := a.bursts[k]; cancel != nil {
		cancel()
	}
	bctx, cancel := context.WithCancel(ctx)
	a.bursts[k] = cancel
	r := a.ifaces[k.iface]
	schedule := slices.Clone(a.opts.Burst)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.finishBurst(k, bctx)
		start := a.opts.Clock.Now()
		for _, at := range schedule {
			if wait := at - a.opts.Clock.Since(start); wait > 0 {
				t := a.opts.Clock.NewTimer(wait)
				select {
				case <-bctx.Done():
					t.Stop()
					return
				case <-t.C():
				}
			}
			if bctx.Err() != nil {
				return
			}
			if err := r.announce(k.ip); err != nil {
				a.opts.Log.Error(err, "sending an unsolicited announcement", "ip", k.ip.String(), "interface", k.iface)
				continue
			}
			a.opts.Metrics.GratuitousSent(k.ip)
		}
	}()
}

// finishBurst forgets a burst that ended by itself.
func (a *Announcer) finishBurst(k burstKey, bctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if bctx.Err() == nil {
		if cancel := a.bursts[k]; cancel != nil {
			cancel()
			delete(a.bursts, k)
		}
	}
}
