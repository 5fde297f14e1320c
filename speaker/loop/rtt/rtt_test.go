package rtt

import (
	"testing"
	"time"
)

func TestPatienceFollowsTheRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rtts     []time.Duration
		min, max time.Duration
	}{
		{"none yet", nil, 0, 0},
		{"LAN", []time.Duration{300 * time.Microsecond, 250 * time.Microsecond, 310 * time.Microsecond, 280 * time.Microsecond}, 0, 10 * time.Millisecond},
		{"starved", []time.Duration{80 * time.Millisecond, 120 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}, 400 * time.Millisecond, 2 * time.Second},
		{"one late answer among fast ones", []time.Duration{time.Millisecond, time.Millisecond, 200 * time.Millisecond, time.Millisecond}, 200 * time.Millisecond, 2 * time.Second},
	} {
		var e Estimate
		for _, r := range tc.rtts {
			e.Observe(r)
		}
		if p := e.Patience(); p < tc.min || p > tc.max {
			t.Errorf("%s: patience %s after %v, want within [%s, %s]", tc.name, p, tc.rtts, tc.min, tc.max)
		}
	}
}
