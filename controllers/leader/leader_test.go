//go:build e2e

package leader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/ironlb/ironlb/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, nil)) }

// Short timers keep the tests quick; the rules they check do not depend on
// the values.
const (
	testLease = 2 * time.Second
	testRenew = 1500 * time.Millisecond
	testRetry = 250 * time.Millisecond
)

// cuttableLock is a Lease lock whose replica can be cut off from the
// apiserver, as a partition or an apiserver outage cuts it off.
type cuttableLock struct {
	resourcelock.Interface
	cut atomic.Bool
}

var errCut = errors.New("cut off from the apiserver (test)")

func (l *cuttableLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	if l.cut.Load() {
		return nil, nil, errCut
	}
	return l.Interface.Get(ctx)
}

func (l *cuttableLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if l.cut.Load() {
		return errCut
	}
	return l.Interface.Create(ctx, r)
}

func (l *cuttableLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if l.cut.Load() {
		return errCut
	}
	return l.Interface.Update(ctx, r)
}

// terms records every term of every replica of one election and fails the
// test if two ever overlap.
type terms struct {
	t       *testing.T
	mu      sync.Mutex
	leading string // "" when no term runs
	log     []termRecord
}

type termRecord struct {
	who        string
	began, end time.Time
}

func (ts *terms) run(who string) func(context.Context) error {
	return func(ctx context.Context) error {
		ts.mu.Lock()
		if ts.leading != "" {
			ts.t.Errorf("%s began a term while %s's still runs", who, ts.leading)
		}
		ts.leading = who
		ts.log = append(ts.log, termRecord{who: who, began: time.Now()})
		i := len(ts.log) - 1
		ts.mu.Unlock()
		<-ctx.Done()
		ts.mu.Lock()
		ts.leading = ""
		ts.log[i].end = time.Now()
		ts.mu.Unlock()
		return nil
	}
}

// current is the replica in a term, or "".
func (ts *terms) current() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.leading
}

func (ts *terms) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.log)
}

// waitTerm waits for a term that is not not's and returns its holder and
// when it began.
func (ts *terms) waitTerm(t *testing.T, not string, limit time.Duration) (string, time.Time) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ts.mu.Lock()
		if ts.leading != "" && ts.leading != not {
			r := ts.log[len(ts.log)-1]
			ts.mu.Unlock()
			return r.who, r.began
		}
		ts.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no term other than %q began within %s", not, limit)
	return "", time.Time{}
}

// replica is one running Elector.
type replica struct {
	name string
	lock *cuttableLock
	stop context.CancelFunc
	done chan error

	mu       sync.Mutex
	returned bool
	err      error
}

// election runs replicas of one Lease in namespace ns.
type election struct {
	t     *testing.T
	cs    kubernetes.Interface
	ns    string
	terms *terms
	reps  map[string]*replica
}

func newElection(t *testing.T) *election {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("leader-%d", time.Now().UnixNano())
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &election{t: t, cs: cs, ns: ns, terms: &terms{t: t}, reps: map[string]*replica{}}
}

// start runs a replica named name until the test ends.
func (el *election) start(name string, term func(context.Context) error) *replica {
	lock := &cuttableLock{Interface: Lease(el.cs.CoordinationV1(), el.ns, "ironlb-controller", name)}
	e := &Elector{Lock: lock, LeaseDuration: testLease, RenewDeadline: testRenew, RetryPeriod: testRetry, Log: testr.New(el.t).WithName(name)}
	ctx, stop := context.WithCancel(context.Background())
	r := &replica{name: name, lock: lock, stop: stop, done: make(chan error, 1)}
	if term == nil {
		term = el.terms.run(name)
	}
	go func() { r.done <- e.Run(ctx, term) }()
	el.reps[name] = r
	el.t.Cleanup(func() { r.halt(el.t) })
	return r
}

// halt stops the replica and waits for Run to return.
func (r *replica) halt(t *testing.T) {
	r.stop()
	r.mu.Lock()
	readByTest := r.returned
	r.mu.Unlock()
	switch err := r.wait(10 * time.Second); {
	case errors.Is(err, errNotReturned):
		t.Errorf("replica %s: Run did not return within 10 s of its context ending", r.name)
	case err != nil && !readByTest:
		t.Errorf("replica %s: Run: %v", r.name, err)
	}
}

var errNotReturned = errors.New("Run has not returned")

// wait returns what Run returned, waiting up to limit for it.
func (r *replica) wait(limit time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.returned {
		return r.err
	}
	select {
	case r.err = <-r.done:
		r.returned = true
		return r.err
	case <-time.After(limit):
		return errNotReturned
	}
}

func (el *election) holder() string {
	l, err := el.cs.CoordinationV1().Leases(el.ns).Get(context.Background(), "ironlb-controller", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestStoppedLeaderHandsOver: a leader that stops hands the Lease back
// after its term ended, and a standby leads at its next retry, long before
// the Lease would have expired.
func TestStoppedLeaderHandsOver(t *testing.T) {
	el := newElection(t)
	for _, n := range []string{"a", "b", "c"} {
		el.start(n, nil)
	}
	first, _ := el.terms.waitTerm(t, "", 10*time.Second)
	if h := el.holder(); h != first {
		t.Fatalf("the Lease names %q, the term runs in %q", h, first)
	}
	stopped := time.Now()
	el.reps[first].halt(t)
	next, began := el.terms.waitTerm(t, first, 5*time.Second)
	if took := began.Sub(stopped); took > testLease {
		t.Errorf("%s led %s after %s stopped; a handed-back Lease should be taken within a retry (%s), not after it expired (%s)",
			next, took.Round(time.Millisecond), first, testRetry, testLease)
	} else {
		t.Logf("%s stopped; %s led %s later", first, next, took.Round(time.Millisecond))
	}
}

// TestCutOffLeaderStopsBeforeStandbyLeads: a leader cut off from the
// apiserver ends its term by the renew deadline; a standby leads only
// after the Lease expired, so the two terms never overlap; once the old
// leader can reach the apiserver again it stays a standby.
func TestCutOffLeaderStopsBeforeStandbyLeads(t *testing.T) {
	el := newElection(t)
	el.start("a", nil)
	first, _ := el.terms.waitTerm(t, "", 10*time.Second)
	el.start("b", nil)
	other := map[string]string{"a": "b", "b": "a"}[first]
	time.Sleep(2 * testRetry) // the standby has seen the Lease renewed

	cut := time.Now()
	el.reps[first].lock.cut.Store(true)
	next, began := el.terms.waitTerm(t, first, 3*testLease)
	if next != other {
		t.Fatalf("term in %q, want %q", next, other)
	}
	el.terms.mu.Lock()
	firstEnd := el.terms.log[0].end
	el.terms.mu.Unlock()
	if firstEnd.IsZero() || !firstEnd.Before(began) {
		t.Fatalf("the cut-off leader's term ended at %v, the standby's began at %v", firstEnd, began)
	}
	if stopped := firstEnd.Sub(cut); stopped > testRenew+2*testRetry {
		t.Errorf("the cut-off leader led on for %s (renew deadline %s)", stopped, testRenew)
	}
	if took := began.Sub(cut); took > testLease+3*testRetry {
		t.Errorf("the standby led %s after the cut; bound: lease %s + retries", took, testLease)
	}
	t.Logf("cut at 0: old term ended at %s, new began at %s", firstEnd.Sub(cut).Round(time.Millisecond), began.Sub(cut).Round(time.Millisecond))

	el.reps[first].lock.cut.Store(false)
	time.Sleep(testLease + 2*testRetry)
	if c := el.terms.current(); c != other {
		t.Errorf("after the heal the term runs in %q, want %q still", c, other)
	}
	if n := el.terms.count(); n != 2 {
		t.Errorf("%d terms, want 2", n)
	}
}

// TestResumesOwnLeaseAtOnce: after an outage of the apiserver that ended
// its term, the only replica — still named in the Lease — leads again as
// soon as it can renew, without waiting for the Lease to expire, and
// without the process restarting.
func TestResumesOwnLeaseAtOnce(t *testing.T) {
	el := newElection(t)
	r := el.start("a", nil)
	el.terms.waitTerm(t, "", 10*time.Second)
	r.lock.cut.Store(true)
	deadline := time.Now().Add(testRenew + 3*testRetry)
	for el.terms.current() != "" {
		if time.Now().After(deadline) {
			t.Fatal("the term did not end while the apiserver was out of reach")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(testLease) // the outage lasts longer than the Lease
	healed := time.Now()
	r.lock.cut.Store(false)
	_, began := el.terms.waitTerm(t, "", 3*testLease)
	if took := began.Sub(healed); took > 3*testRetry {
		t.Errorf("led again %s after the heal; its own Lease should be resumed within a retry or two (%s)", took, testRetry)
	}
	if n := el.terms.count(); n != 2 {
		t.Errorf("%d terms, want 2", n)
	}
}

// TestFailedTermEndsRunAndHandsOver: a term that fails on its own ends Run
// with its error, and the Lease is handed to a standby at once.
func TestFailedTermEndsRunAndHandsOver(t *testing.T) {
	el := newElection(t)
	boom := errors.New("cache never synced (test)")
	fail := make(chan struct{})
	a := el.start("a", func(ctx context.Context) error {
		select {
		case <-fail:
			return boom
		case <-ctx.Done():
			return nil
		}
	})
	waitHolder(t, el, "a")
	el.start("b", nil)
	time.Sleep(2 * testRetry)
	failed := time.Now()
	close(fail)
	if err := a.wait(5 * time.Second); !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the term's error", err)
	}
	_, began := el.terms.waitTerm(t, "", 5*time.Second)
	if took := began.Sub(failed); took > testLease {
		t.Errorf("b led %s after a's term failed; the Lease should have been handed back (retry %s, lease %s)", took, testRetry, testLease)
	}
}

func waitHolder(t *testing.T, el *election, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for el.holder() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the Lease names %q, want %q", el.holder(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
