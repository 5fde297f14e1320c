package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEveryFuzzTargetIsInMakeFuzz: `make fuzz` runs FUZZ_TARGETS, so a
// FuzzXxx missing there would only ever run its seeds.
func TestEveryFuzzTargetIsInMakeFuzz(t *testing.T) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimSpace(string(root))
	out, err := exec.Command("go", "list", "-f", `{{.Dir}}{{range .TestGoFiles}} {{.}}{{end}}`, "github.com/ironlb/ironlb/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, f := range fields[1:] {
			src, err := os.ReadFile(filepath.Join(fields[0], f))
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dir, fields[0])
			for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
				found = append(found, "./"+filepath.ToSlash(rel)+":"+m[1])
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("no fuzz targets found: the search is broken")
	}
	mk, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FUZZ_TARGETS\s*:=((?:.*\\\n)*.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no FUZZ_TARGETS in the Makefile")
	}
	listed := strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " "))
	slices.Sort(found)
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Errorf("FUZZ_TARGETS = %v,\nthe fuzz targets in the code are %v", listed, found)
	}
}
