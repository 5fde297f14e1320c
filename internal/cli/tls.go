package cli

import (
	"crypto/tls"
	"flag"
	"fmt"
	"sort"
	"strings"
)

// TLS holds MetalLB's --tls-* flags; they apply to every TLS server of the
// binary (secure /metrics and the webhook). Empty values keep Go's defaults.
type TLS struct {
	MinVersion       string
	CipherSuites     string
	CurvePreferences string
}

// Bind registers the flags under MetalLB's names.
func (t *TLS) Bind(fs *flag.FlagSet) {
	fs.StringVar(&t.MinVersion, "tls-min-version", "", "minimum TLS version of the servers, one of "+strings.Join(sortedKeys(tlsVersions), ", ")+"; empty means Go's default (TLS 1.2)")
	fs.StringVar(&t.CipherSuites, "tls-cipher-suites", "", "comma-separated TLS 1.2 cipher suites (Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); empty means Go's defaults")
	fs.StringVar(&t.CurvePreferences, "tls-curve-preferences", "", "comma-separated key exchange groups, e.g. X25519,CurveP256; empty means Go's defaults")
}

var tlsVersions = map[string]uint16{
	"VersionTLS10": tls.VersionTLS10,
	"VersionTLS11": tls.VersionTLS11,
	"VersionTLS12": tls.VersionTLS12,
	"VersionTLS13": tls.VersionTLS13,
}

var tlsCurves = map[string]tls.CurveID{
	"X25519":         tls.X25519,
	"CurveP256":      tls.CurveP256,
	"CurveP384":      tls.CurveP384,
	"CurveP521":      tls.CurveP521,
	"X25519MLKEM768": tls.X25519MLKEM768,
}

// Options turns the flags into a server TLS option, or says which value is
// wrong.
func (t TLS) Options() (func(*tls.Config), error) {
	var minVersion uint16
	if t.MinVersion != "" {
		v, ok := tlsVersions[t.MinVersion]
		if !ok {
			return nil, fmt.Errorf("--tls-min-version %q: must be one of %s", t.MinVersion, strings.Join(sortedKeys(tlsVersions), ", "))
		}
		minVersion = v
	}
	suites, err := cipherSuites(t.CipherSuites)
	if err != nil {
		return nil, err
	}
	var curves []tls.CurveID
	for _, name := range SplitComma(t.CurvePreferences) {
		c, ok := tlsCurves[name]
		if !ok {
			return nil, fmt.Errorf("--tls-curve-preferences: unknown group %q: must be among %s", name, strings.Join(sortedKeys(tlsCurves), ", "))
		}
		curves = append(curves, c)
	}
	return func(c *tls.Config) {
		if minVersion != 0 {
			c.MinVersion = minVersion
		}
		if len(suites) > 0 {
			c.CipherSuites = suites
		}
		if len(curves) > 0 {
			c.CurvePreferences = curves
		}
	}, nil
}

func cipherSuites(list string) ([]uint16, error) {
	known := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		known[s.Name] = s.ID
	}
	var out []uint16
	for _, name := range SplitComma(list) {
		id, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("--tls-cipher-suites: unknown cipher suite %q", name)
		}
		out = append(out, id)
	}
	return out, nil
}

// SplitComma splits a comma-separated flag value, dropping blanks.
func SplitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
