package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
)

// refused is the error a client gets while the apiserver is down.
var refused error = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// failingLW fails its first failures calls with err, then answers.
func failingLW(failures int64, err error, calls *atomic.Int64) toolscache.ListerWatcher {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			if calls.Add(1) <= failures {
				return nil, err
			}
			return &corev1.ServiceList{}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			if calls.Add(1) <= failures {
				return nil, err
			}
			return watch.NewFake(), nil
		},
	}
}

// TestPatientListWaitsOutAnUnreachableAPIServer: a list that finds the
// apiserver down is asked again until it answers; the reflector above
// never sees the failures.
func TestPatientListWaitsOutAnUnreachableAPIServer(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	var calls atomic.Int64
	lw := PatientListWatch(failingLW(6, refused, &calls), clk).(toolscache.ListerWatcherWithContext)
	done := make(chan error, 1)
	go func() {
		_, err := lw.ListWithContext(context.Background(), metav1.ListOptions{})
		done <- err
	}()
	for calls.Load() < 7 {
		if clk.HasWaiters() {
			clk.Step(RetryMax) // more than any delay
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("list after the apiserver came back: %v", err)
	}
	if n := calls.Load(); n != 7 {
		t.Errorf("%d calls, want 7 (6 refused, then the answer)", n)
	}
}

func TestPatientWatchGivesUpWithItsContext(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	var calls atomic.Int64
	lw := PatientListWatch(failingLW(1<<30, refused, &calls), clk).(toolscache.ListerWatcherWithContext)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := lw.WatchWithContext(ctx, metav1.ListOptions{})
		done <- err
	}()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("watch after its context ended: %v, want the last error", err)
	}
}

// TestPatientReturnsRefusalsAtOnce: an apiserver that answers "no" is not
// asked again; only one that cannot be reached is.
func TestPatientReturnsRefusalsAtOnce(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", errors.New("RBAC"))
	var calls atomic.Int64
	lw := PatientListWatch(failingLW(1, forbidden, &calls), clocktesting.NewFakeClock(time.Unix(0, 0))).(toolscache.ListerWatcherWithContext)
	if _, err := lw.ListWithContext(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) || calls.Load() != 1 {
		t.Errorf("forbidden list: %v after %d calls, want Forbidden after 1", err, calls.Load())
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("Get https://10.0.0.1:6443/api: %w", syscall.ECONNRESET), true},
		{apierrors.NewServiceUnavailable("starting"), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n", errors.New("no")), false},
		{apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, "n"), false},
		{apierrors.NewResourceExpired("too old resource version"), false},
		// The apiserver answered: its conversion webhook is gone. Asking
		// again every second would only make it call the webhook again.
		{apierrors.NewInternalError(errors.New(`conversion webhook for metallb.io/v1beta2, Kind=BGPPeer failed: Post "https://metallb-webhook-service.metallb-system.svc:443/convert": EOF`)), false},
		{fmt.Errorf("listing: %w", apierrors.NewInternalError(errors.New("connection reset by peer"))), false},
	} {
		if got := Unreachable(tc.err); got != tc.want {
			t.Errorf("Unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
