package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/metrics"
)

// TestLeaderOptionsRefuseUnsafeTimers: the leader must stop before a
// standby may lead, and client-go's own limits are said in our words.
func TestLeaderOptionsRefuseUnsafeTimers(t *testing.T) {
	for _, tc := range []struct {
		name                string
		lease, renew, retry time.Duration
		identity            string
		wantErr             string
	}{
		{name: "defaults", lease: 5 * time.Second, renew: 3 * time.Second, retry: time.Second, identity: "pod-a"},
		{name: "kube-controller-manager's", lease: 15 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second, identity: "pod-a"},
		{name: "renew not shorter than lease", lease: 3 * time.Second, renew: 3 * time.Second, retry: time.Second, identity: "pod-a", wantErr: "must be longer than --leader-elect-renew-deadline"},
		{name: "lease under a second", lease: 900 * time.Millisecond, renew: 500 * time.Millisecond, retry: 100 * time.Millisecond, identity: "pod-a", wantErr: "at least 1s"},
		{name: "retry too close to renew", lease: 5 * time.Second, renew: 3 * time.Second, retry: 2600 * time.Millisecond, identity: "pod-a", wantErr: "1.2 × --leader-elect-retry-period"},
		{name: "no retry", lease: 5 * time.Second, renew: 3 * time.Second, retry: 0, identity: "pod-a", wantErr: "must be positive"},
		{name: "host name when no pod name", lease: 5 * time.Second, renew: 3 * time.Second, retry: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := leaderOptions{elect: true, leaseDuration: tc.lease, renewDeadline: tc.renew, retryPeriod: tc.retry, identity: tc.identity}
			err := l.validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			case err == nil && l.identity == "":
				t.Fatal("no identity")
			}
		})
	}
}

// TestTermWaitsForTheAPIServer: a term whose manager cannot be built (no
// apiserver answers, as while it restarts) keeps trying while it leads and
// ends without an error with its term, instead of ending the process.
func TestTermWaitsForTheAPIServer(t *testing.T) {
	scheme, err := cli.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.NewController(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	log := funcr.New(func(_, args string) {
		mu.Lock()
		logs.WriteString(args + "\n")
		mu.Unlock()
	}, funcr.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	// A port nothing listens on: every request is refused at once.
	cfg := &rest.Config{Host: "https://127.0.0.1:1", Timeout: 200 * time.Millisecond}
	if err := runTerm(ctx, cfg, scheme, options{namespace: "metallb-system"}, m, log); err != nil {
		t.Fatalf("the term ended with %v; it must wait for the apiserver until the term ends", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "cannot start assigning IPs yet"); n < 2 {
		t.Errorf("tried %d times in 1.5 s, want several:\n%s", n, logs.String())
	}
}
