package l2lab

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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
			file := filepath.Join(dir, fmt.Sprintf("%02d-%s.log", i, fileSafe.ReplaceAllString(p.Name, "_")))
			if err := os.WriteFile(file, []byte(p.all()), 0o644); err != nil {
				t.Logf("keeping %s's log: %v", p.Name, err)
			}
			fmt.Fprintf(&b, "\n--- %s (%s):\n%s", p.Name, filepath.Base(file), p.Output(tailOnFailure))
		}
		t.Logf("%s", b.String())
	})
}

var fileSafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func (p *Proc) all() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}
