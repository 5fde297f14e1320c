// Package benchrun lets a benchmark program use the test harnesses (l2lab,
// frr, netns), which take a testing.T: Runner stands in for it.
package benchrun

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Runner stands in for testing.T: cleanups run in reverse at Done, a fatal
// error runs them and exits.
type Runner struct {
	cleanups []func()
	parent   *Runner
}

// New returns a Runner that also tears everything down when the program
// is interrupted (Ctrl-C, SIGTERM). Call Done when the program ends.
func New() *Runner {
	r := &Runner{}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; r.Fatalf("interrupted") }()
	return r
}

func (r *Runner) Helper()                        {}
func (r *Runner) Cleanup(f func())               { r.cleanups = append(r.cleanups, f) }
func (r *Runner) Errorf(format string, a ...any) { fmt.Fprintf(os.Stderr, "error: "+format+"\n", a...) }

// Child returns a Runner for one part of the program (one lab of several,
// run one after the other): its cleanups run at its own Done, or with its
// parent's if the program fails or is interrupted first.
func (r *Runner) Child() *Runner {
	c := &Runner{parent: r}
	r.Cleanup(c.Done)
	return c
}

// Fatalf prints the error, runs every cleanup (its parent's too) and exits
// with status 1.
func (r *Runner) Fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "fatal: "+format+"\n", a...)
	root := r
	for root.parent != nil {
		root = root.parent
	}
	root.Done()
	os.Exit(1)
}

// Done runs the cleanups, last registered first.
func (r *Runner) Done() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// Summary is "p50 …, max …, min …" of durations, rounded to milliseconds.
func Summary(d []time.Duration) string {
	if len(d) == 0 {
		return "no samples"
	}
	s := slices.Sorted(slices.Values(d))
	return fmt.Sprintf("p50 %s, max %s, min %s", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), s[0].Round(time.Millisecond))
}

// FormatCPU gives, per name, the share of one core used between two
// readings of cumulative CPU time taken over apart.
func FormatCPU(before, after map[string]time.Duration, over time.Duration) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(after)) {
		parts = append(parts, fmt.Sprintf("%s %.1f %% of a core", n, 100*float64(after[n]-before[n])/float64(over)))
	}
	return strings.Join(parts, ", ")
}

// SaturateCores starts one busy loop per CPU, stopped at cleanup, and
// returns how many.
func (r *Runner) SaturateCores() int {
	n := runtime.NumCPU()
	hogs := make([]*exec.Cmd, 0, n)
	for range n {
		h := exec.Command("sh", "-c", "while :; do :; done")
		if err := h.Start(); err != nil {
			r.Fatalf("starting a CPU hog: %v", err)
		}
		hogs = append(hogs, h)
	}
	r.Cleanup(func() {
		for _, h := range hogs {
			_ = h.Process.Kill()
			_ = h.Wait()
		}
	})
	return n
}
