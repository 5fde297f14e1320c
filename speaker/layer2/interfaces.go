package layer2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"
)

// excludedPrefixes name interfaces that are never the LAN: loopback, the
// pod network's bridges and veths, tunnels and kube-proxy's IPVS dummy.
var excludedPrefixes = []string{
	"lo", "veth", "cni", "cbr", "docker", "kube-ipvs", "kube-bridge", "flannel", "cali", "cilium", "lxc",
	"tunl", "vxlan", "genev", "nodelocaldns", "weave", "antrea",
}

// UsableInterfaces lists the interfaces announcements go out on when an
// L2Advertisement names none; see chooseInterfaces.
func UsableInterfaces() []string { return UsableInterfacesExcept(nil)() }

// UsableInterfacesExcept is UsableInterfaces that also leaves out the
// interfaces whose names match exclude (MetalLB's excludel2 list); nil
// excludes nothing more.
func UsableInterfacesExcept(exclude *regexp.Regexp) func() []string {
	return func() []string {
		links, err := listLinks()
		if err != nil {
			return nil
		}
		usable, _ := chooseInterfaces(links, exclude)
		return usable
	}
}

// PresentInterfacesExcept lists the interfaces an L2Advertisement may name
// on this node: every one whose name exclude (the excludel2 list) spares.
func PresentInterfacesExcept(exclude *regexp.Regexp) func() []string {
	return func() []string {
		links, err := listLinks()
		if err != nil {
			return nil
		}
		_, present := chooseInterfaces(links, exclude)
		return present
	}
}

// link is what choosing interfaces needs to know of one.
type link struct {
	name     string
	flags    uint32 // IFF_*
	hasMAC   bool
	enslaved bool // a port of a bond or bridge: the master answers
}

// chooseInterfaces picks, as MetalLB's speaker does, the interfaces
// announced on by default (usable): up, broadcast-capable, with a MAC, ARP
// not switched off, not a port of a bond or bridge, not one of the kinds
// that are never the LAN and not matched by exclude; an address is not
// needed (a VLAN interface carrying only VIPs has none). present is every
// interface exclude spares: an L2Advertisement may name any of those.
func chooseInterfaces(links []link, exclude *regexp.Regexp) (usable, present []string) {
	for _, l := range links {
		if exclude != nil && exclude.MatchString(l.name) {
			continue
		}
		present = append(present, l.name)
		if l.flags&syscall.IFF_UP == 0 || l.flags&syscall.IFF_BROADCAST == 0 || l.flags&syscall.IFF_NOARP != 0 ||
			!l.hasMAC || l.enslaved || excludedName(l.name, nil) {
			continue
		}
		usable = append(usable, l.name)
	}
	slices.Sort(usable)
	slices.Sort(present)
	return usable, present
}

// listLinks reads every link of this network namespace from the kernel
// (net.Interfaces does not tell a bond's or bridge's ports, nor NOARP).
func listLinks() ([]link, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	var links []link
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		// struct ifinfomsg: family, pad, type (2), index (4), flags (4), change (4).
		l := link{flags: binary.NativeEndian.Uint32(m.Data[8:12])}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return nil, fmt.Errorf("listing links: %w", err)
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFLA_IFNAME:
				l.name = string(bytes.TrimRight(a.Value, "\x00"))
			case syscall.IFLA_ADDRESS:
				l.hasMAC = slices.ContainsFunc(a.Value, func(b byte) bool { return b != 0 })
			case syscall.IFLA_MASTER:
				l.enslaved = len(a.Value) == 4 && binary.NativeEndian.Uint32(a.Value) != 0
			}
		}
		if l.name != "" {
			links = append(links, l)
		}
	}
	return links, nil
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
