package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Leftovers lists whatever of the cluster described by s still exists on
// the machine: processes (by command line or cgroup), mounts, network
// namespaces, links, cgroups, changed host sysctls, directories, the
// kubeconfig context. Take s before deleting; empty means clean.
func (s *State) Leftovers() []string {
	var left []string
	add := func(format string, args ...any) { left = append(left, fmt.Sprintf(format, args...)) }

	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if pid == os.Getpid() {
			continue
		}
		// A zombie holds nothing but its PID, until init reaps it.
		if stat, _ := os.ReadFile(filepath.Join(p, "stat")); zombie(stat) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
		cmd := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if mentions(cmd, s.Dir) || mentions(cmd, s.RunDir) || strings.Contains(string(cg), "/"+s.labCgroup()+"/") {
			add("process %d: %s", pid, cmd)
		}
	}
	for _, sock := range s.shimSockets() {
		if _, err := os.Stat(sock); err == nil {
			add("shim socket %s", sock)
		}
	}
	for _, m := range mountsUnder(s.Dir, s.RunDir) {
		add("mount %s", m)
	}
	var names []string
	for _, n := range s.Plan.Nodes {
		names = append(names, n.Name)
	}
	for _, c := range s.Clients {
		names = append(names, c.Name)
	}
	for _, n := range names {
		if _, err := os.Stat(NetnsPath(n)); err == nil {
			add("network namespace %s", n)
		}
	}
	links := []string{s.Plan.Bridge}
	for _, n := range s.Plan.Nodes {
		links = append(links, n.Link)
	}
	for _, c := range s.Clients {
		links = append(links, c.Link)
	}
	for _, l := range links {
		if exec.Command("ip", "link", "show", l).Run() == nil {
			add("link %s", l)
		}
	}
	if s.Cgroups != nil {
		for _, m := range s.Cgroups.Mounts {
			d := filepath.Join(m, s.Cgroups.Parent, s.labCgroup())
			if _, err := os.Stat(d); err == nil {
				add("cgroup %s", d)
			}
		}
		for _, d := range s.Cgroups.Made {
			if _, err := os.Stat(d); err == nil {
				add("cgroup %s (made for the lab's parent)", d)
			}
		}
	}
	for _, r := range s.HostRules {
		if hostRuleExists(r) {
			add("iptables rule in the host's %s chain: %s", r.Chain, strings.Join(r.Spec, " "))
		}
	}
	for k, v := range s.Sysctls {
		b, _ := os.ReadFile(filepath.Join("/proc/sys", k))
		if got := strings.TrimSpace(string(b)); got != v {
			add("sysctl %s = %s, was %s", k, got, v)
		}
	}
	for _, d := range []string{s.Dir, s.RunDir} {
		if _, err := os.Stat(d); err == nil {
			add("directory %s", d)
		}
	}
	return left
}

// zombie reads the state field of /proc/PID/stat, after the command name
// in parentheses (which may itself hold spaces and parentheses).
func zombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(s[i+1:], " Z")
}

// mentions reports whether a command line names something below dir.
func mentions(cmd, dir string) bool { return dir != "" && strings.Contains(cmd, dir+"/") }
