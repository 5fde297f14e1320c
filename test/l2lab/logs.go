package l2lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ironlb/ironlb/test/frr"
	"github.com/ironlb/ironlb/test/proc"
)

// FailureT is what KeepLogsOnFailure needs of a *testing.T.
type FailureT interface {
	Helper()
	Name() string
	Failed() bool
	Logf(format string, args ...any)
	Cleanup(func())
}

// tailOnFailure is how many of each process's last lines a failed test
// prints; the rest is in the kept files. Few, so the test's own failure
// messages, printed before, stay in the tail a CI report shows.
const tailOnFailure = 3

// KeepLogsOnFailure makes a failed test write the whole output of every
// process the lab started (the controller, every run of every speaker) to
// files in a directory that is kept, and print where, with each one's
// last lines.
func (c *Cluster) KeepLogsOnFailure(t FailureT) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir, err := os.MkdirTemp("", "ironlb-logs-"+fileSafe.ReplaceAllString(t.Name(), "_")+"-")
		if err != nil {
			t.Logf("keeping the lab's logs: %v", err)
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "the lab's process logs are kept in %s; the last %d lines of each:", dir, tailOnFailure)
		for i, p := range c.procs {
			file, err := c.writeLog(dir, i)
			if err != nil {
				t.Logf("%v", err)
			}
			fmt.Fprintf(&b, "\n--- %s (%s):\n%s", p.Name, filepath.Base(file), p.Output(tailOnFailure))
		}
		t.Logf("%s", b.String())
	})
}

// WriteLogs writes the whole output of every process the lab started to
// files in dir, which must exist.
func (c *Cluster) WriteLogs(dir string) error {
	var errs []error
	for i := range c.procs {
		if _, err := c.writeLog(dir, i); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeLog writes the i-th process's output to its file in dir.
func (c *Cluster) writeLog(dir string, i int) (string, error) {
	p := c.procs[i]
	file := filepath.Join(dir, fmt.Sprintf("%02d-%s.log", i, fileSafe.ReplaceAllString(p.Name, "_")))
	if err := os.WriteFile(file, []byte(p.All()), 0o644); err != nil {
		return file, fmt.Errorf("keeping %s's log: %w", p.Name, err)
	}
	return file, nil
}

var fileSafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// keepRouterLogs copies a failed test's FRR logs (the router's directory
// goes with the test) to a kept directory and says where, with the last
// lines of bgpd's log: the whole logs would push the test's own failure
// out of the tail a CI report shows.
func keepRouterLogs(r *frr.Router) string {
	dir, err := os.MkdirTemp("", "ironlb-logs-frr-"+fileSafe.ReplaceAllString(r.Config.Name, "_")+"-")
	if err != nil {
		return fmt.Sprintf("keeping FRR %s's logs: %v", r.Config.Name, err)
	}
	var tail string
	for _, f := range frr.LogFiles {
		data, err := os.ReadFile(filepath.Join(r.Dir, f))
		if err != nil {
			continue
		}
		_ = os.WriteFile(filepath.Join(dir, f), data, 0o644)
		if f == "bgpd.log" {
			tail = proc.LastLines(string(data), tailOnFailure)
		}
	}
	return fmt.Sprintf("FRR %s's logs are kept in %s; the end of bgpd.log:\n%s", r.Config.Name, dir, tail)
}
