package cluster

import (
	"testing"

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
