// Package leader runs the controller's allocating half on one replica at a
// time: the one holding a coordination.k8s.io Lease.
//
// Each leadership won is a term. A term starts from nothing (its caller
// builds fresh caches and state from the cluster) and ends when the Lease
// could not be renewed in time or the process stops; the next campaign
// starts only after the term has returned, so two terms never overlap in
// one process. Losing the Lease does not end the process: after an
// apiserver outage the replica campaigns again and, still named in the
// Lease, leads again at once, where a process that exits on a lost Lease
// would wait for its container to restart.
//
// client-go's LeaderElector holds the Lease; its ReleaseOnCancel is not
// used, because it hands the Lease back as soon as renewing stops, before
// the term's last writes have returned. Run hands it back itself, after
// the term.
package leader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults, chosen for the controller's target of new IPs within 10 s of
// the leader's node dying. A standby sees each renewal within a
// RetryPeriod (×1.2 jitter) and takes over at its first retry after
// LeaseDuration has passed since: at most 5 + 1.2 + 1.2 ≈ 7.4 s after the
// leader's last renewal, then lists the cluster and allocates. A leader
// that cannot renew stops RetryPeriod + RenewDeadline (4 s) after its last
// renewal, at least 1 s before any standby may lead: the margin for a slow
// last write and for scheduling. Each replica asks the apiserver about once
// a second.
const (
	DefaultLeaseDuration = 5 * time.Second
	DefaultRenewDeadline = 3 * time.Second
	DefaultRetryPeriod   = 1 * time.Second
)

// Elector campaigns for one Lease.
type Elector struct {
	// Lock is the Lease and this replica's identity in it. The identity
	// must be unique among live replicas and stable across restarts of one
	// container (the pod's name), so that a restarted leader resumes its
	// own Lease at once.
	Lock          resourcelock.Interface
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	Log           logr.Logger
}

// Run campaigns until ctx ends, calling term for each leadership won with
// a context that ends with the term. term must return once its context
// ends; returning earlier with an error ends Run with it. When ctx ends,
// the Lease is handed back after term returned, so that a standby leads at
// its next retry instead of waiting for the Lease to expire.
func (e *Elector) Run(ctx context.Context, term func(context.Context) error) error {
	defer e.release()
	for ctx.Err() == nil {
		if err := e.campaign(ctx, term); err != nil {
			return err
		}
	}
	return nil
}

// campaign waits for the Lease, runs one term and returns when it ended.
func (e *Elector) campaign(ctx context.Context, term func(context.Context) error) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Buffered: the elector starts the callback in its own goroutine, which
	// must not block if Run returned meanwhile.
	won := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          e.Lock,
		LeaseDuration: e.LeaseDuration,
		RenewDeadline: e.RenewDeadline,
		RetryPeriod:   e.RetryPeriod,
		Name:          e.Lock.Describe(),
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(termCtx context.Context) { won <- termCtx },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election on %s: %w", e.Lock.Describe(), err)
	}
	electorDone := make(chan struct{})
	go func() {
		defer close(electorDone)
		le.Run(runCtx)
	}()

	var termCtx context.Context
	select {
	case <-electorDone:
		return nil // ctx ended while campaigning
	case termCtx = <-won:
	}
	if termCtx.Err() != nil {
		<-electorDone
		return nil
	}
	e.Log.Info("leading", "lease", e.Lock.Describe(), "identity", e.Lock.Identity())
	began := time.Now()
	termErr := term(termCtx)
	lost := termCtx.Err() != nil
	stop()
	<-electorDone
	if !lost {
		if termErr == nil {
			termErr = errors.New("it returned while still leading")
		}
		return fmt.Errorf("leadership term on %s: %w", e.Lock.Describe(), termErr)
	}
	reason := "the Lease was not renewed in time"
	if ctx.Err() != nil {
		reason = "stopping"
	}
	e.Log.Info("stopped leading", "lease", e.Lock.Describe(), "reason", reason, "led", time.Since(began).Round(time.Millisecond).String(),
		"termError", errString(termErr))
	return nil
}

// release hands the Lease back if it still names this replica: an empty
// holder with a one-second duration, as client-go's ReleaseOnCancel
// writes it.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.RenewDeadline)
	defer cancel()
	rec, _, err := e.Lock.Get(ctx)
	if err != nil {
		e.Log.Info("cannot read the Lease to hand it back; a standby takes over when it expires", "lease", e.Lock.Describe(), "reason", err.Error())
		return
	}
	if rec.HolderIdentity != e.Lock.Identity() {
		return
	}
	now := metav1.Now()
	if err := e.Lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now, LeaderTransitions: rec.LeaderTransitions,
	}); err != nil {
		e.Log.Info("cannot hand the Lease back; a standby takes over when it expires", "lease", e.Lock.Describe(), "reason", err.Error())
		return
	}
	e.Log.Info("handed the Lease back", "lease", e.Lock.Describe())
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Lease is the Lease namespace/name held under identity.
func Lease(client coordinationv1.CoordinationV1Interface, namespace, name, identity string) resourcelock.Interface {
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
		Client:     client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
}
