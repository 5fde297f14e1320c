package main

import (
	"slices"
	"testing"
	"time"
)

func TestOutage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []request{
		{start: at(0), end: at(5), ok: true},
		{start: at(50), end: at(55), ok: true},     // last answer before the node is gone at 100
		{start: at(90), end: at(150), ok: true},    // sent before, answered after: neither
		{start: at(100), end: at(1100), ok: false}, // lost
		{start: at(150), end: at(1150), ok: false},
		{start: at(400), end: at(405), ok: true}, // first answer after
		{start: at(450), end: at(1450), ok: false},
		{start: at(500), end: at(505), ok: true},
	}
	last, first := outage(reqs, at(100))
	if !last.Equal(at(55)) || !first.Equal(at(405)) {
		t.Errorf("outage: last %v, first %v; want 55 ms and 405 ms", last.Sub(t0), first.Sub(t0))
	}
	if n, bad := failed(reqs, at(405), at(1000)); n != 2 || bad != 1 {
		t.Errorf("failed after the first answer: %d of %d, want 1 of 2", bad, n)
	}
	if last, first := outage(reqs[:3], at(100)); !first.IsZero() || last.IsZero() {
		t.Errorf("no answer after: first %v, want zero", first)
	}
	// A request sent just after the fault, answered before the link went
	// down, does not end the outage that follows it.
	early := append([]request{{start: at(101), end: at(104), ok: true}}, reqs[3:]...)
	early = append(early, reqs[:3]...)
	sortRequests(early)
	early[slices.IndexFunc(early, func(r request) bool { return r.start.Equal(at(100)) })].start = at(106)
	if last, first := outage(early, at(100)); !last.Equal(at(104)) || !first.Equal(at(405)) {
		t.Errorf("outage after an early answer: last %v, first %v; want 104 ms and 405 ms", last.Sub(t0), first.Sub(t0))
	}
}
