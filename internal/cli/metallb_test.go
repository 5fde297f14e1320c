package cli

import (
	"crypto/tls"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnusedAcceptsMetalLBFlagsAndNamesThem(t *testing.T) {
	t.Setenv("METALLB_BGP_TYPE", "frr")
	t.Setenv("FRR_LOGGING_LEVEL", "")
	var u Unused
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	u.Flag(fs, "enable-pprof", true, "use --pprof-bind-address")
	u.Flag(fs, "frrk8s-namespace", false, "no FRR")
	u.Env("METALLB_BGP_TYPE", "no FRR", "native")
	u.Env("FRR_LOGGING_LEVEL", "no FRR")
	if err := fs.Parse([]string{"--enable-pprof", "--frrk8s-namespace", "frr-k8s-system"}); err != nil {
		t.Fatalf("MetalLB flags refused: %v", err)
	}
	got := strings.Join(u.Set(), "; ")
	for _, want := range []string{"METALLB_BGP_TYPE=frr (no FRR)", "--enable-pprof=true (use --pprof-bind-address)", "--frrk8s-namespace=frr-k8s-system (no FRR)"} {
		if !strings.Contains(got, want) {
			t.Errorf("ignored settings %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "FRR_LOGGING_LEVEL") {
		t.Errorf("an empty variable was reported: %q", got)
	}

	t.Setenv("METALLB_BGP_TYPE", "native")
	var quiet Unused
	quiet.Env("METALLB_BGP_TYPE", "no FRR", "native")
	if len(quiet.Set()) != 0 {
		t.Errorf("METALLB_BGP_TYPE=native is what IronLB does, yet reported: %v", quiet.Set())
	}
}

func TestDefaultNamespace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "namespace")
	if err := os.WriteFile(file, []byte("metallb-system\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := ""
	if err := DefaultNamespace(&ns, file); err != nil || ns != "metallb-system" {
		t.Errorf("from the service account file: %q, %v", ns, err)
	}
	ns = "given"
	if err := DefaultNamespace(&ns, filepath.Join(dir, "absent")); err != nil || ns != "given" {
		t.Errorf("a given namespace changed: %q, %v", ns, err)
	}
	ns = ""
	err := DefaultNamespace(&ns, filepath.Join(dir, "absent"))
	if err == nil || !strings.Contains(err.Error(), "--namespace") {
		t.Errorf("outside a pod: %v, want an error naming --namespace", err)
	}
}

func TestTLSOptions(t *testing.T) {
	tests := []struct {
		name    string
		flags   TLS
		wantErr string
		check   func(*tls.Config) bool
	}{
		{name: "defaults keep Go's", check: func(c *tls.Config) bool { return c.MinVersion == 0 && c.CipherSuites == nil }},
		{name: "MetalLB's manifest value", flags: TLS{MinVersion: "VersionTLS12"}, check: func(c *tls.Config) bool { return c.MinVersion == tls.VersionTLS12 }},
		{name: "suites and curves", flags: TLS{CipherSuites: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256", CurvePreferences: "X25519,CurveP256"},
			check: func(c *tls.Config) bool { return len(c.CipherSuites) == 2 && len(c.CurvePreferences) == 2 }},
		{name: "unknown version", flags: TLS{MinVersion: "TLS1.2"}, wantErr: "--tls-min-version"},
		{name: "unknown suite", flags: TLS{CipherSuites: "TLS_NOPE"}, wantErr: `unknown cipher suite "TLS_NOPE"`},
		{name: "unknown curve", flags: TLS{CurvePreferences: "P256"}, wantErr: "--tls-curve-preferences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, err := tt.flags.Options()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var c tls.Config
			opt(&c)
			if !tt.check(&c) {
				t.Errorf("config: min version %x, suites %v, curves %v", c.MinVersion, c.CipherSuites, c.CurvePreferences)
			}
		})
	}
}
