package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cgroups places the lab's processes: one subtree per node, nested under
// the cgroup of the process that creates the lab (machines that supervise
// sessions by cgroup then account the lab to that session), in every
// mounted hierarchy. On cgroup v1 kubelet and runc want the node's path in
// every hierarchy; on v2 there is one.
type Cgroups struct {
	// Mounts are the hierarchies' mount points: /sys/fs/cgroup on v2;
	// /sys/fs/cgroup/{cpu,memory,...,unified} on v1 and hybrid.
	Mounts []string
	// V2 is true when /sys/fs/cgroup is the unified hierarchy itself.
	V2 bool
	// Parent is the creator's own cgroup path, e.g. /process_api/ID; the
	// lab lives in Parent/ironlab-NAME.
	Parent string
	// Made are the directories of Parent's path the lab created in
	// hierarchies that did not nest the caller (v1): removed with the lab
	// when nothing else uses them.
	Made []string `json:",omitempty"`
}

// detectCgroups reads the mounted hierarchies and the caller's place in them.
func detectCgroups() (*Cgroups, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	return parseCgroups(string(mi), string(own))
}

// parseCgroups finds the hierarchies in mountinfo and the lab's parent
// cgroup in /proc/self/cgroup.
func parseCgroups(mountinfo, self string) (*Cgroups, error) {
	cg := &Cgroups{}
	for _, line := range strings.Split(mountinfo, "\n") {
		// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPER"
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, fs := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(fs) < 1 || !strings.HasPrefix(f[4], "/sys/fs/cgroup") {
			continue
		}
		switch fs[0] {
		case "cgroup2":
			if f[4] == "/sys/fs/cgroup" {
				cg.V2 = true
			}
			cg.Mounts = append(cg.Mounts, f[4])
		case "cgroup":
			cg.Mounts = append(cg.Mounts, f[4])
		}
	}
	if len(cg.Mounts) == 0 {
		return nil, errors.New("no cgroup hierarchy mounted under /sys/fs/cgroup")
	}
	if cg.V2 {
		// Pure v2: only the unified hierarchy counts.
		cg.Mounts = []string{"/sys/fs/cgroup"}
	}
	slices.Sort(cg.Mounts)
	// On v1 the deepest path wins: here only the memory hierarchy is
	// nested (/process_api/ID), and that is the one the machine watches.
	for _, line := range strings.Split(strings.TrimSpace(self), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || (cg.V2 && parts[0] != "0") {
			continue
		}
		if len(parts[2]) > len(cg.Parent) {
			cg.Parent = parts[2]
		}
	}
	if cg.Parent == "" {
		cg.Parent = "/"
	}
	if cg.V2 && cg.Parent != "/" {
		// v2 passes controllers down only from a cgroup without processes
		// of its own, and the caller's cgroup holds the caller: the lab
		// goes beside it, in the same parent (a systemd slice, which holds
		// no processes), so it is still accounted where the caller is.
		cg.Parent = filepath.Dir(cg.Parent)
	}
	return cg, nil
}

// Path is rel (e.g. "ironlab-myk8s/myk8s-worker") under the parent, as a
// cgroup path (what kubelet's cgroupRoot wants).
func (c *Cgroups) Path(rel string) string { return filepath.Join(c.Parent, rel) }

func (c *Cgroups) dirs(rel string) []string {
	var out []string
	for _, m := range c.Mounts {
		out = append(out, filepath.Join(m, c.Parent, rel))
	}
	return out
}

// Ensure creates rel in every hierarchy. cpuset directories start with no
// CPUs and memory nodes; each new one is seeded from its parent, top down,
// or joining it fails.
func (c *Cgroups) Ensure(rel string) error {
	// On v1 the parent exists only in the hierarchies that nest the
	// caller (here: memory); the others get the same path, made from the
	// root down. They stay after delete: other labs of the caller may use them.
	parts := strings.Split(strings.Trim(filepath.Join(c.Parent, rel), "/"), "/")
	for _, m := range c.Mounts {
		dir := m
		if c.V2 {
			dir = filepath.Join(m, c.Parent)
			parts = strings.Split(strings.Trim(rel, "/"), "/")
			if err := c.delegate(dir); err != nil {
				return err
			}
		}
		for i, p := range parts {
			parent := dir
			dir = filepath.Join(dir, p)
			err := os.Mkdir(dir, 0o755)
			if err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
			if err == nil && !c.V2 && i < strings.Count(strings.Trim(c.Parent, "/"), "/")+1 && c.Parent != "/" {
				c.Made = append(c.Made, dir)
			}
			if c.V2 {
				// Not the leaf: a v2 cgroup that passes controllers
				// down cannot hold the processes the leaf is for.
				if i < len(parts)-1 {
					if err := c.delegate(dir); err != nil {
						return err
					}
				}
				continue
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if b, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					cur, _ := os.ReadFile(filepath.Join(dir, f))
					if strings.TrimSpace(string(cur)) == "" {
						if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
							return fmt.Errorf("seeding %s/%s: %w", dir, f, err)
						}
					}
				}
			}
		}
	}
	return nil
}

// delegate enables the controllers kubelet needs below dir (v2). A cgroup
// with processes of its own cannot pass controllers down (the "no internal
// processes" rule); the caller's cgroup usually has some, so the error
// says how to run the lab instead.
func (c *Cgroups) delegate(dir string) error {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading %s/cgroup.controllers: %w", dir, err)
	}
	for _, ctl := range strings.Fields(string(avail)) {
		err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+ctl), 0o644)
		if err != nil && !slices.Contains(neededControllers, ctl) {
			continue // rdma, misc, ...: nothing the kubelet needs
		}
		if err != nil {
			return fmt.Errorf("enabling %s below %s (on cgroup v2 start the lab from a cgroup of its own, e.g. systemd-run --scope --property=Delegate=yes): %w", ctl, dir, err)
		}
	}
	return nil
}

// neededControllers are the v2 controllers the kubelet checks for.
var neededControllers = []string{"cpu", "cpuset", "memory", "pids"}

// ProcsFiles are the cgroup.procs files a process writes its PID into to
// join rel in every hierarchy.
func (c *Cgroups) ProcsFiles(rel string) []string {
	var out []string
	for _, d := range c.dirs(rel) {
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}
	return out
}

// PIDs lists every process in rel and below, in any hierarchy.
func (c *Cgroups) PIDs(rel string) []int {
	seen := map[int]bool{}
	for _, d := range c.dirs(rel) {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	pids := make([]int, 0, len(seen))
	for p := range seen {
		pids = append(pids, p)
	}
	slices.Sort(pids)
	return pids
}

// Signal sends sig to every process in rel.
func (c *Cgroups) Signal(rel string, sig syscall.Signal) {
	for _, pid := range c.PIDs(rel) {
		_ = syscall.Kill(pid, sig)
	}
}

// Kill ends every process in rel at once, as `docker stop -s 9` ends a
// container: cgroup.kill where the kernel has it (v2 and the unified
// hierarchy of hybrid v1), otherwise freeze, SIGKILL each, thaw, until the
// subtree is empty. Frozen processes cannot fork away from the signal.
func (c *Cgroups) Kill(rel string, timeout time.Duration) error {
	for _, d := range c.dirs(rel) {
		_ = os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0o644)
	}
	deadline := time.Now().Add(timeout)
	// A process leaves cgroup.procs when it starts exiting, before it has
	// closed its files, sockets and mounts (hundreds of milliseconds for a
	// kubelet): Kill returns only once every process it saw has exited.
	seen := map[int]string{}
	for {
		pids := c.PIDs(rel)
		for _, pid := range pids {
			if _, ok := seen[pid]; !ok {
				seen[pid] = procStart(pid)
			}
		}
		if len(pids) == 0 {
			if running := stillExiting(seen); len(running) > 0 {
				if time.Now().After(deadline) {
					return fmt.Errorf("cgroup %s: processes %v still exiting after %s", c.Path(rel), running, timeout)
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v still alive after %s", c.Path(rel), pids, timeout)
		}
		_ = c.Freeze(rel, true)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = c.Freeze(rel, false)
		time.Sleep(20 * time.Millisecond)
	}
}

// stillExiting returns the processes of seen (PID → start time) that have
// not yet exited: neither gone nor a zombie waiting to be reaped.
func stillExiting(seen map[int]string) []int {
	var running []int
	for pid, start := range seen {
		if state, ok := procState(pid, start); ok && state != "Z" && state != "X" {
			running = append(running, pid)
		}
	}
	slices.Sort(running)
	return running
}

// Freeze stops (or resumes) every process in rel, as `docker pause`: the
// freezer hierarchy on v1, cgroup.freeze on v2 (and on the unified
// hierarchy of hybrid v1 too; freezing twice is harmless).
func (c *Cgroups) Freeze(rel string, frozen bool) error {
	for _, m := range c.Mounts {
		var f, v string
		switch base := filepath.Base(m); {
		case base == "freezer":
			f, v = "freezer.state", map[bool]string{true: "FROZEN", false: "THAWED"}[frozen]
		case c.V2 || base == "unified":
			f, v = "cgroup.freeze", map[bool]string{true: "1", false: "0"}[frozen]
		default:
			continue
		}
		d := filepath.Join(m, c.Parent, rel)
		if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("writing %s in %s: %w", f, d, err)
		}
	}
	return nil
}

// Remove deletes rel and everything below it in every hierarchy, deepest
// first; it fails only while a cgroup still holds a process.
func (c *Cgroups) Remove(rel string) error {
	var errs []error
	for _, d := range c.dirs(rel) {
		var all []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		slices.SortFunc(all, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
		for _, p := range all {
			if err := retryBusy(func() error { return syscall.Rmdir(p) }); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// RemoveMade removes the parent directories the lab made, deepest first;
// one that another lab still uses is not empty and stays.
func (c *Cgroups) RemoveMade() {
	made := slices.Clone(c.Made)
	slices.SortFunc(made, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range made {
		_ = syscall.Rmdir(d)
	}
}

// retryBusy retries an rmdir the kernel refuses for a moment after the
// last process of a cgroup exits.
func retryBusy(f func() error) error {
	var err error
	for range 50 {
		if err = f(); !errors.Is(err, syscall.EBUSY) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Memory is the memory the lab's processes use: usage and anonymous
// (RSS) bytes of rel, from the memory controller.
func (c *Cgroups) Memory(rel string) (usage, rss int64, err error) {
	for _, m := range c.Mounts {
		d := filepath.Join(m, c.Parent, rel)
		switch {
		case c.V2:
			if usage, err = readInt(filepath.Join(d, "memory.current")); err == nil {
				rss, err = statField(filepath.Join(d, "memory.stat"), "anon")
			}
			return usage, rss, err
		case filepath.Base(m) == "memory":
			if usage, err = readInt(filepath.Join(d, "memory.usage_in_bytes")); err == nil {
				rss, err = statField(filepath.Join(d, "memory.stat"), "total_rss")
			}
			return usage, rss, err
		}
	}
	return 0, 0, errors.New("no memory controller mounted")
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func statField(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), " "); ok && k == key {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}
