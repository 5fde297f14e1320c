//go:build e2e && wallclock

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironlb/ironlb/test/l2lab"
)

// clockStep is how far the wall clock jumps: as far as an NTP step after a
// long drift, and short enough that the 90-minute CI limit around this run
// does not notice it.
const clockStep = 5 * time.Minute

// TestWallClockJump: the wall clock jumps 5 minutes forward and back
// (issue 20's "one node's clock jumps"), under three speakers that own six
// VIPs, first at rest, then while a frozen owner is held. Nothing a
// speaker decides may read the wall clock: its timers and deadlines,
// memberlist's and the watch's run on the monotonic clock.
//   - At rest, every VIP stays answered by its owner alone.
//   - A jump during a frozen owner's hold neither ends the hold early
//     (forward) nor keeps its VIP unanswered for the minutes of the jump
//     (back): another node answers after the hold, as without a jump.
//
// Network namespaces share one clock, so every node, the apiserver and
// the harness jump together here. What a jump on one node alone would add
// is a disagreement between that node's clock and the apiserver's: the
// speaker tells pods' ages on the apiserver's clock (kube.ServerClock,
// unit-tested with a skewed server).
//
// It sets this machine's clock, so make test-e2e runs it alone, after the
// other e2e packages and before the lab. The clock never goes back before
// the true time, where the apiserver's certificates, made without a
// margin, are not valid yet; it is set back also on failure.
func TestWallClockJump(t *testing.T) {
	c := l2lab.Start(t, l2lab.Options{Nodes: 3})
	c.KeepLogsOnFailure(t)
	vips := c.CreateServices("clock", 6, c.Nodes...)
	all, owners := vipOwners(t, c, "clock", vips)
	waitEachAnsweredOnce(t, c, "clock", vips)
	logged := map[string]int{}
	for _, n := range c.Nodes {
		logged[n] = len(strings.Split(c.Speaker(n).All(), "\n"))
	}

	// began's monotonic reading tells the true time whatever the wall
	// clock says: began plus the time since.
	began := time.Now()
	trueNow := func() time.Time { return began.Add(time.Since(began)) }
	var mu sync.Mutex
	offset := time.Duration(0)
	// setClock moves the wall clock by the difference alone, so that it
	// comes back exactly where it would have been.
	setClock := func(to time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		ts := unix.NsecToTimespec(time.Now().Round(0).Add(to - offset).UnixNano())
		if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
			return fmt.Errorf("setting the wall clock %s ahead: %w", to, err)
		}
		offset = to
		return nil
	}
	t.Cleanup(func() {
		mu.Lock()
		ahead := offset
		mu.Unlock()
		if ahead != 0 {
			if err := setClock(0); err != nil {
				t.Error(err)
			}
		}
	})
	checkAhead := func(want time.Duration) {
		t.Helper()
		// Round(0) drops the monotonic readings, which would hide the step.
		if ahead := time.Now().Round(0).Sub(trueNow().Round(0)); (ahead - want).Abs() > time.Second {
			t.Fatalf("the wall clock is %s ahead of the true time, want %s", ahead, want)
		}
	}

	for _, step := range []struct {
		name string
		to   time.Duration
	}{{"forward", clockStep}, {"back", 0}} {
		silent, foreign := watchVIPs(t, c, all, owners, func() {
			if err := setClock(step.to); err != nil {
				t.Fatal(err)
			}
		}, 3*time.Second)
		checkAhead(step.to)
		t.Logf("at rest, wall clock stepped %s: over 3 s, VIPs unanswered in %v rounds (50 ms each), answered by a node that does not own them in %v",
			step.name, silent, foreign)
		for ip, n := range foreign {
			t.Errorf("after the %s step, %s (owned by %s) was answered by another node in %d rounds", step.name, ip, owners[ip], n)
		}
		for ip, n := range silent {
			if n > 1 {
				t.Errorf("after the %s step, %s went unanswered in %d rounds of 50 ms (one lost frame is tolerated)", step.name, ip, n)
			}
		}
	}
	for i, v := range vips {
		name := fmt.Sprintf("clock-%d", i)
		if got, want := c.StatusOwners(name), owners[netip.MustParseAddr(v)]; !slices.Equal(got, []string{want}) {
			t.Errorf("after the clock jumps at rest, %s's ServiceL2Status is on %v, want %s alone", name, got, want)
		}
	}
	for _, n := range c.Nodes {
		lines := strings.Split(c.Speaker(n).All(), "\n")
		for _, line := range lines[min(logged[n], len(lines)):] {
			if strings.Contains(line, "took over") || strings.Contains(line, "no longer announcing") || strings.Contains(line, `"announcing"`) {
				t.Errorf("%s's speaker changed what it announces after the clock jumped at rest: %s", n, line)
			}
		}
	}

	// A frozen owner is held (--ml-stalled-hold, 1 s) before its VIP
	// moves; the clock jumps 600 ms into the freeze, in the middle of the hold.
	const hold = time.Second
	vip, owner := vips[0], owners[all[0]]
	speaker := c.Speaker(owner)
	for _, step := range []struct {
		name string
		to   time.Duration
	}{{"forward", clockStep}, {"back", 0}} {
		waitAnsweredBy(t, c, vip, owner)
		stopped := time.Now()
		if err := speaker.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		jumped, fired := make(chan error, 1), make(chan struct{})
		jump := time.AfterFunc(600*time.Millisecond, func() {
			defer close(fired)
			jumped <- setClock(step.to)
		})
		// Should the test end before the jump, the jump must not come
		// after the clock was set back.
		t.Cleanup(func() {
			if !jump.Stop() {
				<-fired
			}
		})
		thawed := make(chan error, 1)
		time.AfterFunc(3*time.Second, func() { thawed <- speaker.Signal(syscall.SIGCONT) })
		nodes, at := answers(t, c, vip, 4*time.Second)
		if err := errors.Join(<-jumped, <-thawed); err != nil {
			t.Fatal(err)
		}
		checkAhead(step.to)
		n, when := firstOther(nodes, at, owner)
		switch took := when.Sub(stopped); {
		case n == "":
			t.Errorf("nobody took %s over while %s's speaker was frozen for 3 s and the wall clock jumped %s", vip, owner, step.name)
		case took < hold || took > hold+takeoverGuard:
			t.Errorf("the wall clock jumped %s during %s's hold: %s answered %s %s after the freeze; want after the %s hold, within %s more",
				step.name, owner, n, vip, took.Round(time.Millisecond), hold, takeoverGuard)
		default:
			t.Logf("the wall clock jumped %s 600 ms into a 3 s freeze of %s's speaker: %s answered %s after SIGSTOP (hold %s)",
				step.name, owner, n, took.Round(time.Millisecond), hold)
		}
	}
	waitAnsweredBy(t, c, vip, owner)
}

// watchVIPs acts, then for d asks for every VIP of all over and over
// (afterHeal), and counts per VIP the rounds it went unanswered and those
// in which a node other than its owner answered.
func watchVIPs(t *testing.T, c *l2lab.Cluster, all []netip.Addr, owners map[netip.Addr]string, act func(), d time.Duration) (silent, foreign map[netip.Addr]int) {
	t.Helper()
	silent, foreign = map[netip.Addr]int{}, map[netip.Addr]int{}
	afterHeal(t, c, all, act, d, func(ip netip.Addr, macs []net.HardwareAddr, _ time.Time) {
		if len(macs) == 0 {
			silent[ip]++
		}
		for _, mac := range macs {
			if c.NodeByMAC(mac.String()) != owners[ip] {
				foreign[ip]++
				break
			}
		}
	})
	return silent, foreign
}
