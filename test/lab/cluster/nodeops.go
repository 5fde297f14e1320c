package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a node stopped with SIGTERM gets before SIGKILL,
// docker stop's default.
const stopGrace = 10 * time.Second

// StopNode stops every process of a node, as `docker stop -s SIG` stops a
// kind node: SIGKILL ends them all at once; SIGTERM lets containers and
// daemons end on their own for up to 10 s first. Then the node's link
// goes down, as a stopped container's network does.
func (s *State) StopNode(node string, sig syscall.Signal) error {
	n, ok := s.Plan.Node(node)
	if !ok {
		return fmt.Errorf("cluster %s has no node %q", s.Plan.Name, node)
	}
	rel := s.cgroupRel(node)
	_ = s.Cgroups.Freeze(rel, false)
	if sig == syscall.SIGTERM {
		s.Cgroups.Signal(rel, syscall.SIGTERM)
		deadline := time.Now().Add(stopGrace)
		for len(s.Cgroups.PIDs(rel)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	} else {
		// A hard stop is a node losing power: its link goes down first,
		// so nothing it still holds (kube-proxy's rules forwarding, the
		// kernel answering for its address) is reached while its
		// processes exit, which Kill waits for.
		if err := setLink(n.Link, false); err != nil {
			return err
		}
	}
	if err := s.Cgroups.Kill(rel, killTimeout); err != nil {
		return err
	}
	return setLink(n.Link, false)
}

// StartNode brings a stopped node back: link up, then its daemons (the
// control plane too on the control-plane node). The kubelet finds its
// Node object and reports Ready again.
func (s *State) StartNode(node string) error {
	n, ok := s.Plan.Node(node)
	if !ok {
		return fmt.Errorf("cluster %s has no node %q", s.Plan.Name, node)
	}
	if pids := s.Cgroups.PIDs(s.cgroupRel(node)); len(pids) > 0 {
		return fmt.Errorf("node %s is running (processes %v); stop it first", node, pids)
	}
	if err := setLink(n.Link, true); err != nil {
		return err
	}
	return s.startNode(context.Background(), node, func(string) bool { return true }, nil)
}

// PauseNode freezes (or thaws) every process of a node, as `docker pause`.
func (s *State) PauseNode(node string, pause bool) error {
	if _, ok := s.Plan.Node(node); !ok {
		return fmt.Errorf("cluster %s has no node %q", s.Plan.Name, node)
	}
	return s.Cgroups.Freeze(s.cgroupRel(node), pause)
}

// AddClient adds a namespace named name on the lab network at ip, as
// `docker run --network kind --ip IP --name NAME` adds a container.
func (s *State) AddClient(name, ip string) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || !s.Plan.Network.Contains(a) {
		return fmt.Errorf("client %s: address %q is not in the lab network %s", name, ip, s.Plan.Network)
	}
	if a == s.Plan.Gateway || a == s.Plan.Network.Addr() {
		return fmt.Errorf("client %s: %s is the network's or the gateway's address", name, ip)
	}
	for _, n := range s.Plan.Nodes {
		if n.IP == a || n.Name == name {
			return fmt.Errorf("client %s: %s is node %s's", name, ip, n.Name)
		}
	}
	for _, c := range s.Clients {
		if c.IP == ip || c.Name == name {
			return fmt.Errorf("client %s: client %s (%s) exists", name, c.Name, c.IP)
		}
	}
	if _, err := os.Stat(NetnsPath(name)); err == nil {
		return fmt.Errorf("client %s: network namespace %s exists already", name, name)
	}
	c := Client{Name: name, IP: ip, Link: s.Plan.ClientLink(name)}
	// Recorded first: delete then removes a half-made client too.
	s.Clients = append(s.Clients, c)
	if err := s.save(); err != nil {
		return err
	}
	return addHost(s.Plan, name, c.Link, a)
}

// RemoveClient removes a client namespace, as `docker rm -f NAME`.
func (s *State) RemoveClient(name string) error {
	i := slices.IndexFunc(s.Clients, func(c Client) bool { return c.Name == name })
	if i < 0 {
		return fmt.Errorf("cluster %s has no client %q", s.Plan.Name, name)
	}
	if err := errors.Join(delNetns(name), delLink(s.Clients[i].Link)); err != nil {
		return err
	}
	s.Clients = slices.Delete(s.Clients, i, i+1)
	return s.save()
}

// Command is a command in a node's or client's network namespace, like
// `docker exec`; on a node, ctr, crictl and kubectl find that node's
// containerd and the cluster without flags.
func (s *State) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"--net=" + NetnsPath(name), "--"}, args...)...)
	cmd.Env = os.Environ()
	if _, ok := s.Plan.Node(name); ok {
		cmd.Env = append(cmd.Env,
			"CONTAINERD_ADDRESS="+s.ContainerdSocket(name), "CONTAINERD_NAMESPACE=k8s.io",
			"CONTAINER_RUNTIME_ENDPOINT=unix://"+s.ContainerdSocket(name), "KUBECONFIG="+s.KubeconfigPath())
	}
	return cmd
}

// PodPID returns a process of the pod with the given UID on node, for
// entering the pod's namespaces (/proc/PID/ns/net) from the host. It
// searches the node's cgroup subtree, where the kubelet puts pods in
// directories named pod<UID>.
func (s *State) PodPID(node, podUID string) (int, error) {
	if _, ok := s.Plan.Node(node); !ok {
		return 0, fmt.Errorf("cluster %s has no node %q", s.Plan.Name, node)
	}
	want := "pod" + podUID
	for _, m := range s.Cgroups.Mounts {
		root := filepath.Join(m, s.Cgroups.Parent, s.cgroupRel(node))
		var pid int
		_ = filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
			if err != nil || pid != 0 || !e.IsDir() || !strings.Contains(p, "/"+want) {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if f := strings.Fields(string(b)); len(f) > 0 {
				pid, _ = strconv.Atoi(f[0])
			}
			return nil
		})
		if pid != 0 {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process of pod %s on node %s", podUID, node)
}

// Memory is what the lab's processes use now, from its cgroup: usage
// (RSS, page cache, kernel memory) and RSS alone, in bytes; per node, with
// "" for the whole lab.
func (s *State) Memory(node string) (usage, rss int64, err error) {
	rel := s.labCgroup()
	if node != "" {
		rel = s.cgroupRel(node)
	}
	return s.Cgroups.Memory(rel)
}
