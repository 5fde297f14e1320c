package ifwatch

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs run(ctx) until the test ends and waits until w listens.
func start(t *testing.T, w *Watcher, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-w.listening:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher never started listening")
	}
}

func changedWithin(t *testing.T, w *Watcher, what string) {
	t.Helper()
	select {
	case <-w.Changed():
	case <-time.After(5 * time.Second):
		t.Fatalf("no change reported after %s", what)
	}
}

// TestPollFallback: without netlink, a change of the interface list is
// reported on the next poll, and an unchanged list is not.
func TestPollFallback(t *testing.T) {
	var mu sync.Mutex
	list := []string{"eth0"}
	w := New(func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(list) }, logr.Discard())
	w.PollInterval = 10 * time.Millisecond
	start(t, w, w.poll)
	select {
	case <-w.Changed():
		t.Fatal("a change reported while nothing changed")
	case <-time.After(50 * time.Millisecond):
	}
	mu.Lock()
	list = []string{"eth0", "eth1"}
	mu.Unlock()
	changedWithin(t, w, "eth1 appeared")
}
