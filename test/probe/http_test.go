package probe

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHTTPProbeSaysWhyItFailed: a failed request carries its reason, so a
// report can tell a refused connection (no rule or listener for the VIP)
// from a timeout (no answer at all).
func TestHTTPProbeSaysWhyItFailed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close() // nothing listens there any more: connections are refused

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var results []Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		probeHTTP(ctx, Options{Interval: 10 * time.Millisecond, HTTPTimeout: time.Second},
			Target{IP: netip.MustParseAddr("127.0.0.1"), Port: port}, func(r Result) {
				mu.Lock()
				defer mu.Unlock()
				results = append(results, r)
			})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(results)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(results) == 0 {
		t.Fatal("no probe finished within 5 s")
	}
	for _, r := range results {
		if r.OK || !strings.Contains(r.Err, "connection refused") {
			t.Errorf("probe of a closed port: OK %v, Err %q; want a failure saying the connection was refused", r.OK, r.Err)
		}
	}
}
