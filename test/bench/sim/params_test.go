package main

import (
	"io"
	"testing"
	"time"
)

func TestFlagsOverPresets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		timer string
		check func(p Params) bool
	}{
		{"defaults are today's", nil, presetToday, func(p Params) bool {
			return p.ProbeInterval == time.Second && p.ProbeTimeout == 50*time.Millisecond && p.GossipInterval == 200*time.Millisecond && p.Watch && p.WatchPingTimeout == 50*time.Millisecond
		}},
		{"relaxed keeps the watch's own timeout", []string{"-timers", presetRelaxed}, presetRelaxed, func(p Params) bool {
			return p.ProbeInterval == time.Second && p.ProbeTimeout == 500*time.Millisecond && p.GossipInterval == 200*time.Millisecond && p.WatchPingTimeout == 50*time.Millisecond
		}},
		{"a flag beats the preset", []string{"-timers", presetRelaxed, "-probe-interval", "2s", "-loss", "0.1"}, presetRelaxed, func(p Params) bool {
			return p.ProbeInterval == 2*time.Second && p.ProbeTimeout == 500*time.Millisecond && p.Loss == 0.1
		}},
		{"fast: the defaults until 806b66b", []string{"-timers", presetFast}, presetFast, func(p Params) bool {
			return p.ProbeInterval == 100*time.Millisecond && p.ProbeTimeout == 50*time.Millisecond && p.GossipInterval == 20*time.Millisecond
		}},
		{"booleans", []string{"-watch=false", "-tcp-pings=false"}, presetToday, func(p Params) bool { return !p.Watch && !p.TCPPings }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, kf, err := parse(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			p := mustParams(o.timers[0], o.network)
			kf.apply(&p)
			if o.timers[0] != tc.timer || !tc.check(p) {
				t.Errorf("timers %s, params %+v", o.timers[0], p)
			}
		})
	}
	if _, _, err := parse([]string{"-probe-interval", "soon"}, io.Discard); err == nil {
		t.Error("a bad duration was accepted")
	}
}
