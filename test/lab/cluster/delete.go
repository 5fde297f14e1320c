package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// killTimeout bounds the wait for a cgroup to empty after SIGKILL; the
// kernel needs milliseconds, a stuck process (D state) longer.
const killTimeout = 5 * time.Second

// Delete tears down the named cluster, whichever process created it.
func Delete(name string) error {
	s, err := Load(name)
	if err != nil {
		return err
	}
	return s.teardown()
}

// teardown removes, in order, everything the state names and may exist:
// processes (by cgroup), mounts (deepest first), namespaces, links,
// cgroups, the host sysctls the kubelets rewrote, the kubeconfig context,
// the directories. It goes on past errors, so one stuck part does not keep
// the others alive, and reports them all.
func (s *State) teardown() error {
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.Cgroups != nil && s.Plan != nil {
		// Thaw first: a paused node's processes cannot die, and on v1
		// thawing the lab's cgroup leaves a node frozen by itself frozen.
		for _, n := range s.Plan.Nodes {
			_ = s.Cgroups.Freeze(s.cgroupRel(n.Name), false)
		}
		_ = s.Cgroups.Freeze(s.labCgroup(), false)
		keep(s.Cgroups.Kill(s.labCgroup(), killTimeout))
	}
	shimSockets := s.shimSockets()
	keep(unmountUnder(s.Dir, s.RunDir))
	for _, sock := range shimSockets {
		if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
			keep(err)
		}
	}
	if s.Plan != nil {
		for _, c := range s.Clients {
			keep(delNetns(c.Name))
			keep(delLink(c.Link))
		}
		for _, n := range s.Plan.Nodes {
			keep(delNetns(n.Name))
			keep(delLink(n.Link))
		}
		keep(delLink(s.Plan.Bridge))
	}
	keep(s.delHostRules())
	if s.Cgroups != nil && s.Plan != nil {
		if err := s.Cgroups.Remove(s.labCgroup()); err != nil {
			keep(err)
		} else {
			s.Cgroups.RemoveMade()
		}
	}
	for k, v := range s.Sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			keep(fmt.Errorf("restoring sysctl %s=%s: %w", k, v, err))
		}
	}
	keep(s.unmergeKubeconfig())
	if len(errs) == 0 {
		for _, d := range []string{s.RunDir, s.Dir} {
			if d != "" {
				keep(os.RemoveAll(d))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("deleting cluster: %w", errors.Join(errs...))
	}
	return nil
}

// unmountUnder unmounts every mount point below the given directories,
// deepest first (containers' rootfs, shm, pod network namespaces, the
// kubelet's volumes). Lazy: a mount a dying process still holds goes
// once it lets go.
func unmountUnder(dirs ...string) error {
	var errs []error
	for range 3 {
		points := mountsUnder(dirs...)
		if len(points) == 0 {
			return nil
		}
		errs = nil
		for _, p := range points {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
			}
		}
	}
	if left := mountsUnder(dirs...); len(left) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(left, " ")))
	}
	return errors.Join(errs...)
}

// mountsUnder lists mount points below dirs, deepest first.
func mountsUnder(dirs ...string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		for _, d := range dirs {
			if d != "" && (p == d || strings.HasPrefix(p, d+"/")) {
				out = append(out, p)
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return slices.Compact(out)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func delNetns(name string) error {
	if _, err := os.Stat(NetnsPath(name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return run("ip", "netns", "del", name)
}

// delLink deletes a link if it exists; a veth usually went with its
// namespace already.
func delLink(name string) error {
	if exec.Command("ip", "link", "show", name).Run() != nil {
		return nil
	}
	// The kernel removes a veth whose peer's namespace went away
	// asynchronously: the link vanishing between the two commands ("Cannot
	// find device" from ip's lookup, "No such device" from the kernel's
	// delete) means done.
	err := run("ip", "link", "del", name)
	if err != nil && (strings.Contains(err.Error(), "Cannot find device") || strings.Contains(err.Error(), "No such device")) {
		return nil
	}
	return err
}

// shimRoot is where containerd 1.6 puts every shim's socket, whatever the
// daemon's own state dir: a killed shim leaves its socket there.
const shimRoot = "/run/containerd/s"

// shimSockets names the sockets the nodes' shims made: containerd 1.6
// names each sha256(grpc address/namespace/id), for the task ids found in
// the node's runtime state.
func (s *State) shimSockets() []string {
	if s.Plan == nil {
		return nil
	}
	var out []string
	for _, n := range s.Plan.Nodes {
		tasks, _ := filepath.Glob(filepath.Join(s.nodeRun(n.Name), "containerd", "io.containerd.runtime.v2.task", "*", "*"))
		for _, t := range tasks {
			ns, id := filepath.Base(filepath.Dir(t)), filepath.Base(t)
			sum := sha256.Sum256([]byte(filepath.Join(s.ContainerdSocket(n.Name), ns, id)))
			out = append(out, filepath.Join(shimRoot, hex.EncodeToString(sum[:])))
		}
	}
	return out
}
