package poll

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder stands in for a *testing.T whose Fatalf ends the test.
type recorder struct{ failed string }

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func run(f func(T)) (failed string) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		failed = r.failed
	}()
	f(r)
	return ""
}

func TestUntil(t *testing.T) {
	calls := 0
	if failed := run(func(r T) {
		Until(r, "third call", time.Second, time.Millisecond, func() string {
			if calls++; calls < 3 {
				return fmt.Sprintf("call %d", calls)
			}
			return ""
		})
	}); failed != "" || calls != 3 {
		t.Errorf("Until failed %q after %d calls; want success on the third", failed, calls)
	}

	failed := run(func(r T) {
		Until(r, "never", 20*time.Millisecond, time.Millisecond, func() string { return "still waiting" })
	})
	if !strings.Contains(failed, "never: still waiting after 20ms") {
		t.Errorf("Until failed with %q; want what, the last reason and the limit", failed)
	}
	if failed := run(func(r T) { True(r, "false", 5*time.Millisecond, time.Millisecond, func() bool { return false }) }); !strings.Contains(failed, "false: not yet") {
		t.Errorf("True failed with %q", failed)
	}
}
