package bgp

import (
	"sort"

	"github.com/go-logr/logr"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// logAdapter routes GoBGP's logs into logr. GoBGP logs session changes at
// Info, trouble at Warn/Error and per-message chatter at Debug; they land
// at V(1), V(0), error and V(2). Panic and Fatal are logged as errors and
// return: a library does not get to end the speaker.
type logAdapter struct {
	log logr.Logger
}

var _ gobgplog.Logger = logAdapter{}

func (l logAdapter) Panic(msg string, f gobgplog.Fields) {
	l.log.Error(nil, msg, append(kv(f), "gobgpLevel", "panic")...)
}

func (l logAdapter) Fatal(msg string, f gobgplog.Fields) {
	l.log.Error(nil, msg, append(kv(f), "gobgpLevel", "fatal")...)
}

func (l logAdapter) Error(msg string, f gobgplog.Fields) { l.log.Error(nil, msg, kv(f)...) }
func (l logAdapter) Warn(msg string, f gobgplog.Fields)  { l.log.Info(msg, kv(f)...) }
func (l logAdapter) Info(msg string, f gobgplog.Fields)  { l.log.V(1).Info(msg, kv(f)...) }
func (l logAdapter) Debug(msg string, f gobgplog.Fields) { l.log.V(2).Info(msg, kv(f)...) }

// SetLevel is ignored: verbosity belongs to the logr sink.
func (l logAdapter) SetLevel(gobgplog.LogLevel) {}

// GetLevel tells GoBGP whether building its debug messages is worth it.
func (l logAdapter) GetLevel() gobgplog.LogLevel {
	if l.log.V(2).Enabled() {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}

// kv flattens GoBGP's fields in a stable order. GoBGP's "Key" is the
// neighbour's address; it is renamed so it cannot be mistaken for our
// "peer" key, which is the BGPPeer's name.
func kv(f gobgplog.Fields) []any {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		name := k
		switch k {
		case "Key":
			name = "neighbor"
		case gobgplog.FieldFacility:
			name = "facility"
		}
		out = append(out, name, f[k])
	}
	return out
}
