package main

import (
	"slices"
	"testing"
	"time"
)

func TestEventQueueOrdersByTimeThenArrival(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		pushed []time.Duration // the i-th push is event i
		now    time.Duration   // the clock before pushing
		want   []int32         // events in the order they run
	}{
		{"earliest first", []time.Duration{3 * ms, 1 * ms, 2 * ms}, 0, []int32{1, 2, 0}},
		{"one time: first in, first out", []time.Duration{5 * ms, 5 * ms, 5 * ms, 5 * ms}, 0, []int32{0, 1, 2, 3}},
		{"ties among others", []time.Duration{2 * ms, 1 * ms, 2 * ms, 1 * ms, 0}, 0, []int32{4, 1, 3, 0, 2}},
		{"the past runs now, in arrival order", []time.Duration{1 * ms, 9 * ms, 2 * ms}, 5 * ms, []int32{0, 2, 1}},
		{"many", []time.Duration{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 10, 11}, 0, []int32{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 10, 11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := eventQueue{now: tc.now}
			for i, at := range tc.pushed {
				q.push(event{at: at, node: int32(i)})
			}
			var got []int32
			last := tc.now
			for q.len() > 0 {
				e := q.pop()
				if e.at < last || q.now != e.at {
					t.Fatalf("event %d at %v after %v, clock %v: the clock went back or lags", e.node, e.at, last, q.now)
				}
				last = e.at
				got = append(got, e.node)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ran %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRunUntilLeavesTheClockAtTheEnd(t *testing.T) {
	s := newSim(zeroDelay(mustParams(presetToday, netLab)), 3, 1)
	var ran []time.Duration
	for _, at := range []time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 70 * time.Millisecond} {
		s.at(at, func() { ran = append(ran, s.now()) })
	}
	s.runUntil(50 * time.Millisecond)
	if want := []time.Duration{10 * time.Millisecond, 30 * time.Millisecond}; !slices.Equal(ran, want) {
		t.Errorf("ran at %v, want %v", ran, want)
	}
	if s.now() != 50*time.Millisecond {
		t.Errorf("clock %v after runUntil(50ms)", s.now())
	}
}
