package cli

import (
	"flag"
	"fmt"
	"os"
	"strconv"
)

// Flags are bound to a FlagSet with a MetalLB-compatible environment variable
// as fallback, so the pod specs of MetalLB's manifests configure IronLB too.
// Precedence: command line, then the environment variable, then the default.

// StringVar binds a string flag whose default comes from env when it is set.
func StringVar(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		def = v
	}
	fs.StringVar(p, name, def, withEnv(usage, env))
}

// IntVar binds an int flag whose default comes from env when it is set and
// parses; an unparsable value is reported by Validate through errs.
func IntVar(fs *flag.FlagSet, p *int, name, env string, def int, usage string, errs *[]error) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("environment variable %s=%q for --%s: not an integer", env, v, name))
		} else {
			def = n
		}
	}
	fs.IntVar(p, name, def, withEnv(usage, env))
}

func withEnv(usage, env string) string {
	if env == "" {
		return usage
	}
	return fmt.Sprintf("%s (env %s)", usage, env)
}
