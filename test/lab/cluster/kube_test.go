package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKubeletTailsQuoteTheEndOfEachUnreadyNodesLog(t *testing.T) {
	s := &State{Dir: t.TempDir()}
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	log := s.LogFile("w1", "kubelet")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := s.kubeletTails([]string{"w1 (not registered)", "w2"})
	if !strings.Contains(got, "line 19") || !strings.Contains(got, fmt.Sprintf("line %d", 20-kubeletTailLines)) {
		t.Errorf("the last %d lines of w1's log are not quoted:\n%s", kubeletTailLines, got)
	}
	if strings.Contains(got, fmt.Sprintf("line %d\n", 19-kubeletTailLines)) {
		t.Errorf("more than %d lines quoted:\n%s", kubeletTailLines, got)
	}
	if !strings.Contains(got, "w2: no kubelet log") {
		t.Errorf("w2's missing log is not said:\n%s", got)
	}
}
