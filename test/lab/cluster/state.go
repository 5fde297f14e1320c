package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ironlb/ironlb/test/cache"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// State is what a cluster's creator leaves on disk so that any process can
// stop, start or delete it. It is written before anything exists and
// updated as parts appear, so a create that dies half-way still leaves
// enough for delete.
type State struct {
	Plan *Plan
	// Dir holds certificates, configs, logs, data (etcd, containerd,
	// kubelet); RunDir holds sockets and runtime state, on tmpfs and short,
	// for unix socket paths.
	Dir, RunDir string
	Cgroups     *Cgroups
	// Sysctls are the machine-wide values the kubelets rewrite, as found
	// before the first kubelet started; delete puts them back.
	Sysctls map[string]string
	// Daemons per node, in start order: what `node start` runs again.
	Daemons map[string][]Daemon
	Clients []Client
	// Kubeconfig is the file create merged the cluster's context into.
	Kubeconfig string
	// Registry is the image registry's address on the gateway ("" if none).
	Registry string
	// Creator is the process that created the cluster, with its start
	// time (PIDs are reused): a test suite tells its own cluster, still in
	// use by a concurrent run, from one a killed run left behind.
	Creator Process
	// HostRules are iptables rules (as given to -A/-I after the chain)
	// added in the host's namespace; delete removes each with -D.
	HostRules []HostRule `json:",omitempty"`
}

// HostRule is one rule in a chain of the host's filter table.
type HostRule struct {
	Chain string
	Spec  []string
}

// Daemon is one long-running process of a node.
type Daemon struct {
	Name string
	Args []string
	Env  []string `json:",omitempty"`
}

// Client is a namespace on the lab network, like a container started with
// `docker run --network kind`.
type Client struct {
	Name string
	IP   string
	Link string
}

// StateRoot is where clusters keep their state: $IRONLB_CACHE/ironlab, or
// ~/.cache/ironlb/ironlab.
func StateRoot() (string, error) {
	dir, err := cache.Dir()
	if err != nil {
		return "", fmt.Errorf("finding the state directory: %w", err)
	}
	return filepath.Join(dir, "ironlab"), nil
}

// runRoot holds sockets: unix socket paths are limited to 108 bytes, so
// they cannot live under a home directory of any depth.
const runRoot = "/run/ironlab"

const stateFile = "state.json"

// ErrNoCluster is returned for a cluster name with no state on disk.
var ErrNoCluster = errors.New("no such cluster")

// Load reads a cluster's state.
func Load(name string) (*State, error) {
	root, err := StateRoot()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(root, name, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cluster %q: %w (ironlab get clusters lists them)", name, ErrNoCluster)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("cluster %q: state %s: %w", name, filepath.Join(root, name, stateFile), err)
	}
	return &s, nil
}

// save writes the state atomically, so a reader never sees half of it.
func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.Dir, stateFile))
}

// List names the clusters with state on disk.
func List() ([]string, error) {
	root, err := StateRoot()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, e.Name(), stateFile)); err == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// nodeDir is a node's persistent directory; nodeRun its runtime one.
func (s *State) nodeDir(node string) string { return filepath.Join(s.Dir, "nodes", node) }
func (s *State) nodeRun(node string) string { return filepath.Join(s.RunDir, node) }

// cgroupRel is the node's subtree below the creator's cgroup; daemons run
// in its "system" child and kubelet puts pods in "kubepods".
func (s *State) cgroupRel(node string) string { return filepath.Join(s.labCgroup(), node) }
func (s *State) labCgroup() string            { return "ironlab-" + s.Plan.Name }

// ContainerdSocket is the node's containerd endpoint, for ctr and crictl.
func (s *State) ContainerdSocket(node string) string {
	return filepath.Join(s.nodeRun(node), "containerd.sock")
}

// KubeconfigPath is the cluster's admin kubeconfig.
func (s *State) KubeconfigPath() string { return filepath.Join(s.Dir, "kubeconfig") }

// NetnsPath is the node's (or client's) network namespace, as `ip netns` names it.
func NetnsPath(name string) string { return filepath.Join("/run/netns", name) }

// Process names a process across PID reuse.
type Process struct {
	PID int
	// Start is field 22 of /proc/PID/stat: clock ticks after boot.
	Start string
}

func self() Process {
	return Process{PID: os.Getpid(), Start: procStart(os.Getpid())}
}

// Alive reports whether the process still runs (and is the same one).
func (p Process) Alive() bool {
	return p.PID > 0 && p.Start != "" && procStart(p.PID) == p.Start
}

func procStart(pid int) string {
	f := procStat(pid)
	// f[0] is field 3 (state); the start time is field 22.
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// procState returns the state letter of /proc/PID/stat (R, S, D, Z, …) if
// the process with that start time still has an entry.
func procState(pid int, start string) (string, bool) {
	f := procStat(pid)
	if len(f) < 20 || f[19] != start {
		return "", false
	}
	return f[0], true
}

// procStat returns the fields of /proc/PID/stat after the command name,
// field 3 first; nil if there is no such process.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name in parentheses may hold spaces: count after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}
