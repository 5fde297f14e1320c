package l2lab

import (
	"errors"
	"os"
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

// lockLab takes the machine-wide lab lock, released when the test ends.
func lockLab(t netns.T) {
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
	// Closing the file releases the lock.
	t.Cleanup(func() { _ = f.Close() })
}
