package layer2

import (
	"net"
	"slices"
	"strings"
)

// excludedPrefixes name interfaces that are never the LAN: loopback, the
// pod network's bridges and veths, tunnels and kube-proxy's IPVS dummy.
var excludedPrefixes = []string{
	"lo", "veth", "cni", "cbr", "docker", "kube-ipvs", "kube-bridge", "flannel", "cali", "cilium", "lxc",
	"tunl", "vxlan", "genev", "nodelocaldns", "weave", "antrea",
}

// UsableInterfaces lists the interfaces announcements go out on when an
// L2Advertisement names none: up, broadcast-capable, with an address, and
// not one of the excluded kinds.
func UsableInterfaces() []string {
	ifis, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, ifi := range ifis {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagBroadcast == 0 || len(ifi.HardwareAddr) == 0 {
			continue
		}
		if slices.ContainsFunc(excludedPrefixes, func(p string) bool { return strings.HasPrefix(ifi.Name, p) }) {
			continue
		}
		if addrs, err := ifi.Addrs(); err != nil || len(addrs) == 0 {
			continue
		}
		out = append(out, ifi.Name)
	}
	slices.Sort(out)
	return out
}
