// Package poll waits for a condition in tests, benchmarks and labs: a
// bounded loop that fails with the condition's last reason. A limit bounds
// a broken test; it measures nothing.
package poll

import "time"

// T is what Until needs of a *testing.T (or of a benchmark's runner).
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Until calls cond every interval until it returns "" or limit passes;
// then it fails t with what, cond's last reason and the limit.
func Until(t T, what string, limit, interval time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s after %s", what, why, limit)
		}
		time.Sleep(interval)
	}
}

// True is Until for a condition that gives no reason.
func True(t T, what string, limit, interval time.Duration, cond func() bool) {
	t.Helper()
	Until(t, what, limit, interval, func() string {
		if cond() {
			return ""
		}
		return "not yet"
	})
}
