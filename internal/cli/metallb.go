package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
)

// Unused accepts the MetalLB flags and environment variables that mean
// nothing to IronLB (pprof switches, FRR mode, memberlist WAN timings), so
// that MetalLB's manifests and Helm values run unchanged. Each one set is
// named, with the reason it has no effect, in a single warning line at
// start: never fatal, never silent.
type Unused struct {
	set []string
}

// Flag registers a flag that is accepted and ignored; boolean flags take
// no value on the command line, as in MetalLB.
func (u *Unused) Flag(fs *flag.FlagSet, name string, boolean bool, why string) {
	fs.Var(&unusedValue{u: u, name: name, why: why, boolean: boolean}, name, "accepted for MetalLB compatibility; ignored: "+why)
}

// Env notes an environment variable MetalLB reads that IronLB ignores, when
// it is set to something other than the values IronLB already behaves as
// (for example METALLB_BGP_TYPE=native).
func (u *Unused) Env(name, why string, harmless ...string) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return
	}
	for _, h := range harmless {
		if v == h {
			return
		}
	}
	u.set = append(u.set, fmt.Sprintf("%s=%s (%s)", name, v, why))
}

// Set lists what was set, in the order seen.
func (u *Unused) Set() []string { return u.set }

// Warn logs one line naming every ignored setting, if any was set.
func (u *Unused) Warn(log logr.Logger) {
	if len(u.set) == 0 {
		return
	}
	log.Info("WARNING: ignoring MetalLB settings that have no meaning in IronLB", "ignored", strings.Join(u.set, "; "))
}

type unusedValue struct {
	u       *Unused
	name    string
	why     string
	boolean bool
	value   string
}

func (v *unusedValue) String() string {
	if v == nil {
		return ""
	}
	return v.value
}

func (v *unusedValue) Set(s string) error {
	v.value = s
	v.u.set = append(v.u.set, fmt.Sprintf("--%s=%s (%s)", v.name, s, v.why))
	return nil
}

func (v *unusedValue) IsBoolFlag() bool { return v.boolean }

// ServiceAccountNamespaceFile is where a pod finds its own namespace;
// MetalLB's binaries fall back to it when --namespace and METALLB_NAMESPACE
// are empty (its plain manifests set neither).
const ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// DefaultNamespace fills an empty namespace from the pod's service account
// file; outside a pod it says which flag to set.
func DefaultNamespace(namespace *string, file string) error {
	if *namespace != "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--namespace (or METALLB_NAMESPACE) is required outside a pod: the service account's namespace is unreadable: %w", err)
	}
	ns := strings.TrimSpace(string(b))
	if ns == "" {
		return fmt.Errorf("--namespace (or METALLB_NAMESPACE) is required: %s is empty", file)
	}
	*namespace = ns
	return nil
}
