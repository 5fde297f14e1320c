package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fileWrites matches the standard library's ways to create or write a file.
var fileWrites = regexp.MustCompile(`\bos\.(Create|CreateTemp|WriteFile|OpenFile|Mkdir|MkdirAll|MkdirTemp|Rename|Symlink|Link)\(`)

// TestSpeakerWritesNoFile: the chart runs the speaker with a read-only root
// filesystem and no writable volume; no IronLB package the speaker links
// may write a file. (Third-party code is covered by the read-only root
// itself; memberlist and GoBGP keep their state in memory.)
func TestSpeakerWritesNoFile(t *testing.T) {
	if got := writers(t, "github.com/ironlb/ironlb/cmd/speaker"); len(got) > 0 {
		t.Errorf("the speaker would write files:\n%s", strings.Join(got, "\n"))
	}
	// The controller writes its webhook certificate (to an emptyDir): the
	// check sees it, so it can fail.
	if got := writers(t, "github.com/ironlb/ironlb/cmd/controller"); len(got) == 0 {
		t.Error("no file write found in the controller, which writes its certificate: the check is blind")
	}
}

// writers lists the non-test source lines of IronLB packages linked into
// pkg that create or write files.
func writers(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{.Dir}}{{range .GoFiles}} {{.}}{{end}}`, pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if !strings.HasPrefix(fields[0], "github.com/ironlb/ironlb/") {
			continue
		}
		for _, f := range fields[2:] {
			src, err := os.ReadFile(filepath.Join(fields[1], f))
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range strings.Split(string(src), "\n") {
				if fileWrites.MatchString(l) {
					found = append(found, fmt.Sprintf("%s/%s:%d: %s", fields[0], f, i+1, strings.TrimSpace(l)))
				}
			}
		}
	}
	return found
}
