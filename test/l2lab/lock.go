package l2lab

import (
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironlb/ironlb/test/netns"
)

// A lab owns 10.250.0.0/16 and the gateway address on the machine, so two
// cannot run at once (netns.Gateway refuses the second). `go test ./...`
// runs packages in parallel, so every lab holds this lock for its lifetime
// and the next one waits its turn, up to lockWait.
const (
	lockPath = "/tmp/ironlb-l2lab-running.lock"
	// lockWait is longer than any lab test runs; past it the holder is
	// stuck and waiting further would not help.
	lockWait = 20 * time.Minute
	// lockPoll spaces the attempts; a lab takes seconds to start anyway.
	lockPoll = 200 * time.Millisecond
)

// lockLab takes the machine-wide lab lock, released when the test ends,
// and returns the file in which the holder records its lab (recordLab).
// Whatever lab the file names when the lock is taken belonged to a process
// killed before its cleanup ran (a live owner would hold the lock), so it
// is removed first: one killed run must not fail every later one.
func lockLab(t netns.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("opening the lab lock %s: %v", lockPath, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			t.Fatalf("taking the lab lock %s (another lab runs; waited up to %s): %v", lockPath, lockWait, err)
		}
		time.Sleep(lockPoll)
	}
	// Registered before the lab's own teardown, so it runs after it: the
	// record is cleared only once the lab is gone. Closing releases the lock.
	t.Cleanup(func() {
		_ = f.Truncate(0)
		_ = f.Close()
	})
	if prev, err := io.ReadAll(f); err != nil {
		t.Fatalf("reading the lab lock %s: %v", lockPath, err)
	} else if p := strings.TrimSpace(string(prev)); p != "" {
		if err := netns.RemoveLeftovers(p); err != nil {
			t.Fatalf("a killed test left lab %s behind (%s): %v", p, lockPath, err)
		}
	}
	return f
}

// recordLab writes the lab's prefix into the held lock file.
func recordLab(t netns.T, f *os.File, l *netns.Lab) {
	t.Helper()
	if err := f.Truncate(0); err != nil {
		t.Fatalf("recording the lab in %s: %v", lockPath, err)
	}
	if _, err := f.WriteAt([]byte(l.Prefix()+"\n"), 0); err != nil {
		t.Fatalf("recording the lab in %s: %v", lockPath, err)
	}
}
