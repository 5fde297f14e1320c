package kube

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Reconnection after an apiserver outage. client-go's reflector backs off
// after each failed list or watch, doubling up to 30 s with as much jitter
// again, so after an apiserver restart of half a minute a watch resumes up
// to a minute after the apiserver answers (measured: a new Service got its
// IP 45 s after). A patient list or watch instead waits out an unreachable
// apiserver itself, asking again every RetryMin doubling to RetryMax, and
// returns once it answers: the reflector sees one slow call, not a failure
// to back off from. RetryMax bounds the delay after recovery; at one
// request per second per informer a recovering apiserver is not hammered
// (a refused connection costs it nothing).
const (
	RetryMin = 100 * time.Millisecond
	RetryMax = time.Second
)

// PatientListWatch wraps lw so that its lists and watches wait out an
// apiserver that cannot be reached (connection refused or reset, EOF, a
// timeout, 429, 503) until it answers or the call's context ends; any other
// error is returned at once.
func PatientListWatch(lw toolscache.ListerWatcher, clk clock.Clock) toolscache.ListerWatcher {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return patient{lw: toolscache.ToListerWatcherWithContext(lw), clock: clk}
}

type patient struct {
	lw    toolscache.ListerWatcherWithContext
	clock clock.Clock
}

func (p patient) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	return retryUnreachable(ctx, p.clock, func() (runtime.Object, error) { return p.lw.ListWithContext(ctx, opts) })
}

func (p patient) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return retryUnreachable(ctx, p.clock, func() (watch.Interface, error) { return p.lw.WatchWithContext(ctx, opts) })
}

// The context-free forms are what a caller without a context uses; the
// reflector uses the ones above.
func (p patient) List(opts metav1.ListOptions) (runtime.Object, error) {
	return p.ListWithContext(context.Background(), opts)
}

func (p patient) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return p.WatchWithContext(context.Background(), opts)
}

func retryUnreachable[T any](ctx context.Context, clk clock.Clock, call func() (T, error)) (T, error) {
	delay := RetryMin
	for {
		v, err := call()
		if err == nil || !Unreachable(err) || ctx.Err() != nil {
			return v, err
		}
		// Jitter spreads the informers of every process over the interval.
		t := clk.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C():
		}
		delay = min(2*delay, RetryMax)
	}
}

// Unreachable reports whether err says the apiserver could not be reached
// or is not serving yet, rather than that it answered with an error. An
// answer is judged by its status code alone: its message may quote a
// transport error of the apiserver's own (a conversion webhook it could
// not reach, "EOF"), which no retry of ours cures.
func Unreachable(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
	}
	var netErr net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || utilnet.IsConnectionRefused(err) ||
		utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) || errors.As(err, &netErr) && netErr.Timeout()
}

// NewPatientInformer is cache.Options.NewInformer for controller-runtime:
// client-go's shared informer over a PatientListWatch.
func NewPatientInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	return toolscache.NewSharedIndexInformer(PatientListWatch(lw, nil), obj, resync, indexers)
}

// RequeueMax caps how long a failed reconcile waits before it is tried
// again. controller-runtime's default doubles from 5 ms up to 1,000 s, so a
// status write that failed all through an apiserver outage would wait about
// as long as the outage lasted after the apiserver is back.
const RequeueMax = 2 * time.Second

// ControllerOptions are every reconciler's options: workers, and failures
// retried after 5 ms doubling up to RequeueMax (with client-go's overall
// limit of 10 per second, bursts of 100).
func ControllerOptions(workers int) controller.Options {
	return controller.Options{MaxConcurrentReconciles: workers, RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, RequeueMax),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)}
}
