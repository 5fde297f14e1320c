package netns

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Every network namespace of the machine shares one ARP table and one
// IPv6 neighbour table, and the kernel keeps at most gc_thresh3 entries in
// each (1,024 by default) across all of them. A lab of N hosts that all
// talk to each other needs about N² entries: at 40 hosts (1,560) the
// kernel refused new ones ("neighbor table overflow!"), and some pairs of
// hosts could not reach each other for minutes while every other pair
// could. A real cluster has one kernel per node, each holding its own
// N entries. So a lab makes room for its hosts before it adds them.

// neighbourSysctls are the table limits raised, per address family.
var neighbourSysctls = []string{"/proc/sys/net/ipv4/neigh/default", "/proc/sys/net/ipv6/neigh/default"}

var neighbourRoom sync.Mutex

// neighbourEntries is the table size a lab of hosts hosts needs: every
// host may hold an entry for every other, its gateway and the VIPs it
// reaches, with room to spare for whatever else the machine runs.
func neighbourEntries(hosts int) int { return 1024 + 4*(hosts+2)*(hosts+2) }

// makeNeighbourRoom raises the kernel's neighbour table limits (hard:
// gc_thresh3, soft: gc_thresh2) so that a lab of hosts hosts fits, and
// never lowers them: another lab may be running, and an unused limit costs
// nothing.
func makeNeighbourRoom(hosts int) error {
	neighbourRoom.Lock()
	defer neighbourRoom.Unlock()
	hard := neighbourEntries(hosts)
	for _, dir := range neighbourSysctls {
		for _, s := range []struct {
			name string
			want int
		}{{"gc_thresh3", hard}, {"gc_thresh2", hard / 2}} {
			path := dir + "/" + s.name
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("reading the neighbour table's limit: %w", err)
			}
			have, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return fmt.Errorf("reading %s: %w", path, err)
			}
			if have >= s.want {
				continue
			}
			if err := os.WriteFile(path, []byte(strconv.Itoa(s.want)), 0o644); err != nil {
				return fmt.Errorf("raising %s from %d to %d for a lab of %d hosts: %w", path, have, s.want, hosts, err)
			}
		}
	}
	return nil
}
