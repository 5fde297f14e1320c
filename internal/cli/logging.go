package cli

import (
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// LogLevels are the values --log-level accepts, MetalLB's set.
var LogLevels = []string{"all", "debug", "info", "warn", "error", "none"}

// CheckLogLevel reports whether --log-level names a known level.
func CheckLogLevel(level string) error {
	for _, l := range LogLevels {
		if strings.EqualFold(level, l) {
			return nil
		}
	}
	return fmt.Errorf("--log-level %q: must be one of %s", level, strings.Join(LogLevels, ", "))
}

// NewLogger returns a JSON logr.Logger on stderr at the given level.
func NewLogger(level string) (logr.Logger, error) {
	var zl zapcore.Level
	switch strings.ToLower(level) {
	case "all":
		zl = zapcore.Level(-10) // logr V(10) and below: everything we emit
	case "debug":
		zl = zapcore.DebugLevel
	case "info", "":
		zl = zapcore.InfoLevel
	case "warn":
		zl = zapcore.WarnLevel
	case "error":
		zl = zapcore.ErrorLevel
	case "none":
		return logr.Discard(), nil
	default:
		return logr.Logger{}, fmt.Errorf("--log-level %q: must be one of %s", level, strings.Join(LogLevels, ", "))
	}
	return zap.New(zap.Level(zl), zap.JSONEncoder()), nil
}
