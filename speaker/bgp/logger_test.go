package bgp

import (
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

func TestGoBGPLogsLandInLogrByLevel(t *testing.T) {
	fields := gobgplog.Fields{"Topic": "Peer", "Key": "192.0.2.1"}
	tests := []struct {
		name      string
		verbosity int
		log       func(l logAdapter)
		want      []string
		level     gobgplog.LogLevel
	}{
		{name: "warnings at V(0)", verbosity: 0, log: func(l logAdapter) { l.Warn("w", fields) },
			want: []string{`"level"=0 "msg"="w" "neighbor"="192.0.2.1" "Topic"="Peer"`}, level: gobgplog.InfoLevel},
		{name: "info at V(1) is hidden at V(0)", verbosity: 0, log: func(l logAdapter) { l.Info("i", fields) }, level: gobgplog.InfoLevel},
		{name: "info at V(1)", verbosity: 1, log: func(l logAdapter) { l.Info("i", fields) },
			want: []string{`"level"=1 "msg"="i" "neighbor"="192.0.2.1" "Topic"="Peer"`}, level: gobgplog.InfoLevel},
		{name: "debug at V(2), and GoBGP told to build it", verbosity: 2, log: func(l logAdapter) { l.Debug("d", nil) },
			want: []string{`"level"=2 "msg"="d"`}, level: gobgplog.DebugLevel},
		{name: "errors, fatal and panic as errors that return", verbosity: 0, log: func(l logAdapter) {
			l.Error("e", nil)
			l.Fatal("f", nil)
			l.Panic("p", nil)
		}, want: []string{`"msg"="e" "error"=null`, `"msg"="f" "error"=null "gobgpLevel"="fatal"`, `"msg"="p" "error"=null "gobgpLevel"="panic"`},
			level: gobgplog.InfoLevel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			l := logAdapter{log: funcr.New(func(prefix, args string) { got = append(got, args) }, funcr.Options{Verbosity: tc.verbosity})}
			tc.log(l)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("logged (-want +got):\n%s", diff)
			}
			if l.GetLevel() != tc.level {
				t.Errorf("GetLevel() = %v, want %v", l.GetLevel(), tc.level)
			}
		})
	}
}
