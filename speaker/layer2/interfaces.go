package layer2

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
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
func UsableInterfaces() []string { return UsableInterfacesExcept(nil)() }

// UsableInterfacesExcept is UsableInterfaces that also leaves out the
// interfaces whose names match exclude (MetalLB's excludel2 list); nil
// excludes nothing more.
func UsableInterfacesExcept(exclude *regexp.Regexp) func() []string {
	return func() []string {
		ifis, err := net.Interfaces()
		if err != nil {
			return nil
		}
		var out []string
		for _, ifi := range ifis {
			if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagBroadcast == 0 || len(ifi.HardwareAddr) == 0 {
				continue
			}
			if excludedName(ifi.Name, exclude) {
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
}

func excludedName(name string, exclude *regexp.Regexp) bool {
	if slices.ContainsFunc(excludedPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
		return true
	}
	return exclude != nil && exclude.MatchString(name)
}

// ExcludeL2Path is where MetalLB's speaker reads the interfaces it never
// announces on (the metallb-excludel2 ConfigMap, mounted at /etc/metallb).
const ExcludeL2Path = "/etc/metallb/excludel2.yaml"

// LoadExcludeL2 reads a MetalLB excludel2 file, key
// announcedInterfacesToExclude, a list of regular expressions of interface
// names. A missing file excludes nothing; a malformed one is an error
// naming the file, as in MetalLB.
func LoadExcludeL2(path string) (*regexp.Regexp, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var f struct {
		AnnouncedInterfacesToExclude []string `json:"announcedInterfacesToExclude"`
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(f.AnnouncedInterfacesToExclude) == 0 {
		return nil, nil
	}
	for _, e := range f.AnnouncedInterfacesToExclude {
		if _, err := regexp.Compile(e); err != nil {
			return nil, fmt.Errorf("%s: announcedInterfacesToExclude %q: %w", path, e, err)
		}
	}
	return regexp.Compile("(" + strings.Join(f.AnnouncedInterfacesToExclude, ")|(") + ")")
}
