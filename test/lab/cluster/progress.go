package cluster

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Progress reports the steps of a long operation, one at a time.
type Progress interface {
	// Step starts a step; the returned func ends it with its outcome.
	Step(title string) func(err error)
	// Warn prints a line that is not a step.
	Warn(msg string)
}

// Printer prints steps as kind does: " ✓ Title (1.2s)" per step. On a
// terminal the running step shows first and its line is rewritten when it
// ends; otherwise each step is one plain line when it ends.
type Printer struct {
	W   io.Writer
	TTY bool
}

// NewPrinter prints to w, with terminal rewriting when w is one.
func NewPrinter(w io.Writer) *Printer {
	p := &Printer{W: w}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.TTY = err == nil
	}
	return p
}

func (p *Printer) Step(title string) func(error) {
	start := time.Now()
	if p.TTY {
		fmt.Fprintf(p.W, " • %s ...", title)
	}
	return func(err error) {
		mark := "✓"
		if err != nil {
			mark = "✗"
		}
		if p.TTY {
			fmt.Fprint(p.W, "\r\x1b[K")
		}
		fmt.Fprintf(p.W, " %s %s (%.1fs)\n", mark, title, time.Since(start).Seconds())
	}
}

func (p *Printer) Warn(msg string) { fmt.Fprintf(p.W, " ! %s\n", msg) }

// Quiet is a Progress that prints nothing.
type Quiet struct{}

func (Quiet) Step(string) func(error) { return func(error) {} }
func (Quiet) Warn(string)             {}

// step runs f as one step of p.
func step(p Progress, title string, f func() error) error {
	done := p.Step(title)
	err := f()
	done(err)
	return err
}
