//go:build e2e

package cluster

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestHostRules adds the lab's FORWARD rule for a bridge that does not
// exist (iptables takes any interface name), finds it in the scan, and
// removes it; the host's namespace is left as it was.
func TestHostRules(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: the rule goes into the host's iptables")
	}
	s := &State{Plan: &Plan{Name: fmt.Sprintf("unit-%d", os.Getpid()), Bridge: fmt.Sprintf("ilabt%d", os.Getpid()%100000)}, Dir: t.TempDir(), RunDir: t.TempDir()}
	t.Cleanup(func() { _ = s.delHostRules() })
	if err := s.allowBridged(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")
	if string(b) != "1\n" {
		if len(s.HostRules) != 0 {
			t.Fatalf("rules %v without br_netfilter calling iptables", s.HostRules)
		}
		return
	}
	if len(s.HostRules) != 1 || !hostRuleExists(s.HostRules[0]) {
		t.Fatalf("rules %v: want one, in the host's FORWARD chain", s.HostRules)
	}
	if !slices.ContainsFunc(s.Leftovers(), func(l string) bool { return strings.HasPrefix(l, "iptables") }) {
		t.Error("the scan misses the rule")
	}
	if err := s.delHostRules(); err != nil {
		t.Fatal(err)
	}
	if hostRuleExists(s.HostRules[0]) {
		t.Error("rule still there after delete")
	}
	for _, l := range s.Leftovers() {
		if strings.HasPrefix(l, "iptables") {
			t.Errorf("left: %s", l)
		}
	}
}
