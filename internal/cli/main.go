package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Program is what a binary's main supplies; Main does the rest the same way
// for both: flags, logging, signals and exit codes.
type Program struct {
	// Name of the binary, and a sentence for --help.
	Name, Summary string
	// Bind registers the flags; it returns problems found reading
	// environment variables.
	Bind func(fs *flag.FlagSet) *[]error
	// Validate checks the parsed flags; LogLevel is the --log-level value.
	Validate func() error
	LogLevel *string
	// Unused collects the MetalLB settings Bind accepted without meaning;
	// they are named in one warning line once logging is up.
	Unused *Unused
	// Run serves until ctx ends (SIGINT or SIGTERM).
	Run func(ctx context.Context, log logr.Logger) error
}

// Main runs the program and exits: 0 after a clean stop or --help, 1 when
// Run fails, 2 on a usage error.
func (p Program) Main() {
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\n%s\n\nFlags:\n", p.Name, p.Summary)
		fs.PrintDefaults()
	}
	envErrs := p.Bind(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if err := errors.Join(append(*envErrs, p.Validate())...); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", p.Name, err)
		os.Exit(2)
	}
	log, err := NewLogger(*p.LogLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", p.Name, err)
		os.Exit(2)
	}
	ctrl.SetLogger(log)
	if p.Unused != nil {
		p.Unused.Warn(log)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = p.Run(ctx, log)
	stop()
	if err != nil {
		log.Error(err, p.Name+" stopped with an error")
		os.Exit(1)
	}
	log.Info(p.Name + " stopped")
}
