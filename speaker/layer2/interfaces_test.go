package layer2

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestLoadExcludeL2(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	re, err := LoadExcludeL2(write("ok.yaml", "announcedInterfacesToExclude:\n- ^dummy.*\n- ^virbr.*\n- ^bond0\\.100$\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"dummy0": true, "virbr1": true, "bond0.100": true, "bond0": false, "eth0": false, "mydummy": false} {
		if got := excludedName(name, re); got != want {
			t.Errorf("%s excluded = %v, want %v", name, got, want)
		}
	}
	if got := excludedName("veth123", nil); !got {
		t.Error("the built-in exclusions no longer apply without a file")
	}

	if re, err := LoadExcludeL2(filepath.Join(dir, "absent.yaml")); re != nil || err != nil {
		t.Errorf("a missing file: %v, %v; want nothing excluded and no error", re, err)
	}
	for name, tc := range map[string]struct{ content, want string }{
		"bad regexp":  {"announcedInterfacesToExclude:\n- '^eth[0'\n", `"^eth[0"`},
		"unknown key": {"announcedInterfacesToExclud:\n- ^eth1$\n", "unknown field"},
	} {
		_, err := LoadExcludeL2(write(name+".yaml", tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name+".yaml") {
			t.Errorf("%s: %v, want an error naming the file and %s", name, err, tc.want)
		}
	}
}

func TestChooseInterfaces(t *testing.T) {
	const upBroadcast = syscall.IFF_UP | syscall.IFF_BROADCAST
	links := []link{
		{name: "eth0", flags: upBroadcast, hasMAC: true},
		{name: "eth0.100", flags: upBroadcast, hasMAC: true},                   // VLAN without an address: usable, as in MetalLB
		{name: "eth1", flags: syscall.IFF_BROADCAST, hasMAC: true},             // down: may be named, not used by default
		{name: "bond0", flags: upBroadcast, hasMAC: true},                      // the bond answers,
		{name: "eth2", flags: upBroadcast, hasMAC: true, enslaved: true},       // not its ports
		{name: "ptp0", flags: syscall.IFF_UP | syscall.IFF_POINTOPOINT},        // no broadcast, no MAC
		{name: "noarp0", flags: upBroadcast | syscall.IFF_NOARP, hasMAC: true}, // ARP switched off
		{name: "lo", flags: syscall.IFF_UP | syscall.IFF_LOOPBACK},
		{name: "veth1234", flags: upBroadcast, hasMAC: true}, // the pod network: never by default
		{name: "storage0", flags: upBroadcast, hasMAC: true}, // matched by excludel2: neither
	}
	exclude := regexp.MustCompile("^storage")
	usable, present := chooseInterfaces(links, exclude)
	if want := []string{"bond0", "eth0", "eth0.100"}; !slices.Equal(usable, want) {
		t.Errorf("usable %v, want %v", usable, want)
	}
	if want := []string{"bond0", "eth0", "eth0.100", "eth1", "eth2", "lo", "noarp0", "ptp0", "veth1234"}; !slices.Equal(present, want) {
		t.Errorf("present %v, want %v", present, want)
	}
}

func TestListLinksSeesThisNamespace(t *testing.T) {
	links, err := listLinks()
	if err != nil {
		t.Fatal(err)
	}
	ifis, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, l := range links {
		got = append(got, l.name)
	}
	for _, i := range ifis {
		want = append(want, i.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("links %v, net.Interfaces %v", got, want)
	}
	for _, l := range links {
		if l.name == "lo" && (l.flags&syscall.IFF_LOOPBACK == 0 || l.hasMAC) {
			t.Errorf("lo read as %+v", l)
		}
	}
}
