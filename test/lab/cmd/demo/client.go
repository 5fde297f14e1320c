package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ironlb/ironlb/test/lab/cluster"
	"github.com/ironlb/ironlb/test/netns"
)

var macRE = regexp.MustCompile(`\[([0-9a-fA-F:]{17})\]`)

// arping shows `arping -I eth0 -c 1 IP` from mypc and which node owns the
// MAC that answered; it returns that node.
func (d *demo) arping(ctx context.Context, ip string) error {
	_, err := d.arpingOwner(ctx, ip)
	return err
}

func (d *demo) arpingOwner(ctx context.Context, ip string) (string, error) {
	fmt.Printf("\n%s$ arping -I eth0 -c 1 %s\n", client, ip)
	var out []byte
	err := poll(ctx, 10*time.Second, func() (err error) {
		out, err = d.st.Command(client, "arping", "-I", "eth0", "-c", "1", "-w", "2", ip).CombinedOutput()
		return err
	})
	fmt.Print(string(out))
	if err != nil {
		return "", fmt.Errorf("arping %s: %w", ip, err)
	}
	m := macRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("arping %s: no MAC in the reply", ip)
	}
	macs, err := d.nodeMACs()
	if err != nil {
		return "", err
	}
	mac := strings.ToLower(string(m[1]))
	node, ok := macs[mac]
	if !ok {
		return "", fmt.Errorf("arping %s: %s is no node's MAC (%v)", ip, mac, macs)
	}
	fmt.Printf("→ %s is %s's eth0\n", strings.ToUpper(mac), node)
	return node, nil
}

// nodeMACs maps each node's eth0 MAC to the node (netlink: /sys under
// nsenter --net is still the host's).
func (d *demo) nodeMACs() (map[string]string, error) {
	re := regexp.MustCompile(`link/ether ([0-9a-f:]{17})`)
	macs := map[string]string{}
	for _, n := range d.st.Plan.Nodes {
		out, err := d.st.Command(n.Name, "ip", "-o", "link", "show", "eth0").Output()
		if err != nil {
			return nil, fmt.Errorf("MAC of %s: %w", n.Name, err)
		}
		if m := re.FindSubmatch(out); m != nil {
			macs[string(m[1])] = n.Name
		}
	}
	return macs, nil
}

// curls shows one page and the Hostname spread of n requests with curl
// from mypc, each a new connection so kube-proxy picks a webpod anew.
func (d *demo) curls(ctx context.Context, ip string, n int) error {
	curl := func() (string, error) {
		out, err := d.st.Command(client, "curl", "-s", "-m", "3", ip).Output()
		if err != nil {
			return "", fmt.Errorf("curl %s from %s: %w", ip, client, err)
		}
		return string(out), nil
	}
	fmt.Printf("\n%s$ curl -s %s\n", client, ip)
	page, err := curl()
	if err != nil {
		return err
	}
	fmt.Println(strings.TrimSpace(page))
	fmt.Printf("\n%s$ for i in $(seq %d); do curl -s %s | grep Hostname; done | sort | uniq -c\n", client, n, ip)
	count := map[string]int{}
	for range n {
		page, err := curl()
		if err != nil {
			return err
		}
		count["Hostname: "+field(page, "Hostname")]++
	}
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%7d %s\n", count[k], k)
	}
	return nil
}

// field returns the value of the first "Key: value" line of a whoami page.
func field(page, key string) string {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// get fetches http://addr/ from inside the network namespace at nsPath
// on a new connection and returns the body.
func get(ctx context.Context, nsPath, addr string, timeout time.Duration) (string, error) {
	return netns.Get(ctx, nsPath, addr, timeout)
}

// neigh shows mypc's neighbour table once it has talked to every VIP:
// each VIP maps to the MAC of the node announcing it.
func (d *demo) neigh(ctx context.Context, vips ...string) error {
	for _, ip := range vips {
		if _, err := get(ctx, cluster.NetnsPath(client), ip+":80", 3*time.Second); err != nil {
			return err
		}
	}
	macs, err := d.nodeMACs()
	if err != nil {
		return err
	}
	fmt.Printf("\n%s$ ip neigh | grep 172.20.255   # after a curl to each VIP\n", client)
	out, err := d.st.Command(client, "ip", "neigh").Output()
	if err != nil {
		return err
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], "172.20.255.") {
			continue // the nodes' own addresses
		}
		if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
			if node, ok := macs[f[i+1]]; ok {
				l = fmt.Sprintf("%-60s ← %s", l, node)
			}
		}
		lines = append(lines, l)
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	return nil
}
