//go:build e2e

package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCgroups(t *testing.T) {
	tests := []struct {
		name, mountinfo, self string
		want                  *Cgroups
	}{
		{
			name: "v1 hybrid, nested in memory only (these machines)",
			mountinfo: `30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw
31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
34 30 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
35 25 0:31 / /proc rw - proc proc rw`,
			self: "4:memory:/process_api/abc\n3:cpuset:/\n1:cpu:/\n0::/\n",
			want: &Cgroups{
				Mounts: []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"},
				Parent: "/process_api/abc",
			},
		},
		{
			name:      "v2 under a systemd session: the lab goes beside the caller's scope",
			mountinfo: "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
			self:      "0::/user.slice/user-0.slice/session-3.scope\n",
			want:      &Cgroups{Mounts: []string{"/sys/fs/cgroup"}, V2: true, Parent: "/user.slice/user-0.slice"},
		},
		{
			name:      "v2 in the root cgroup (a container's init)",
			mountinfo: "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
			self:      "0::/\n",
			want:      &Cgroups{Mounts: []string{"/sys/fs/cgroup"}, V2: true, Parent: "/"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCgroups(tc.mountinfo, tc.self)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if _, err := parseCgroups("35 25 0:31 / /proc rw - proc proc rw", "0::/"); err == nil {
		t.Error("no hierarchy mounted: want an error")
	}
}

// TestCgroupsLifecycle runs a process tree in a cgroup subtree of the
// test's own, freezes it, kills it at once and removes the subtree: on the
// machine's hierarchies as detected, and on its cgroup2 hierarchy alone
// as a v2 machine would use it (where one is mounted).
func TestCgroupsLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: the lab's cgroups are made by root")
	}
	detected, err := detectCgroups()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*Cgroups{"detected": detected}
	if !detected.V2 && slices.Contains(detected.Mounts, "/sys/fs/cgroup/unified") {
		own, _ := os.ReadFile("/proc/self/cgroup")
		v2, err := parseCgroups("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw", string(own))
		if err != nil {
			t.Fatal(err)
		}
		v2.Mounts = []string{"/sys/fs/cgroup/unified"}
		cases["v2 on the unified hierarchy"] = v2
	}
	for name, cg := range cases {
		t.Run(name, func(t *testing.T) {
			rel := fmt.Sprintf("ironlab-test-%d/node/system", os.Getpid())
			top := strings.SplitN(rel, "/", 2)[0]
			t.Cleanup(func() { _ = cg.Kill(top, time.Second); _ = cg.Remove(top); cg.RemoveMade() })
			if err := cg.Ensure(rel); err != nil {
				t.Fatal(err)
			}
			// A shell that joins, then forks a child: both must die.
			cmd := exec.Command("sh", "-c", `for f in $PROCS; do echo $$ > "$f" || exit 1; done; sleep 60 & wait`)
			cmd.Env = []string{"PROCS=" + strings.Join(cg.ProcsFiles(rel), " "), "PATH=/usr/bin:/bin"}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			deadline := time.Now().Add(5 * time.Second)
			for len(cg.PIDs(top)) < 2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := len(cg.PIDs(top)); n < 2 {
				t.Fatalf("%d processes in the subtree, want the shell and its sleep", n)
			}
			if err := cg.Freeze(top, true); err != nil {
				t.Fatal(err)
			}
			if err := cg.Freeze(top, false); err != nil {
				t.Fatal(err)
			}
			before := cg.PIDs(top)
			if err := cg.Kill(top, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			// Gone or a zombie: a process that has left cgroup.procs but
			// still closes its files would trip the next lab up.
			for _, pid := range before {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
				if err == nil && !regexp.MustCompile(`(?m)^State:\s+[ZX]`).Match(b) {
					t.Errorf("process %d still runs after Kill returned:\n%s", pid, b)
				}
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the shell outlived Kill")
			}
			if err := cg.Remove(top); err != nil {
				t.Fatal(err)
			}
			for _, d := range cg.dirs(top) {
				if _, err := os.Stat(d); err == nil {
					t.Errorf("%s still exists", d)
				}
			}
		})
	}
}
