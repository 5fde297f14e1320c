package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootFrom(t *testing.T) {
	clone := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(clone, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "// the product\nmodule github.com/ironlb/ironlb\n\ngo 1.26.0\n")
	write("test/lab/go.mod", "module github.com/ironlb/ironlb/test/lab\n")
	write("test/lab/cluster/x.go", "package cluster\n")
	for _, from := range []string{"", "test/lab", "test/lab/cluster"} {
		got, err := rootFrom(filepath.Join(clone, from))
		if err != nil || got != clone {
			t.Errorf("rootFrom(%q) = %q, %v; want %q", from, got, err, clone)
		}
	}
	if _, err := rootFrom(t.TempDir()); err == nil || !strings.Contains(err.Error(), "run inside the clone") {
		t.Errorf("outside a clone: %v, want an error saying where to run", err)
	}
}

// TestRootIsThisClone: from this package, Root is two levels above the lab.
func TestRootIsThisClone(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "lab", "repo", "repo.go")); err != nil {
		t.Errorf("Root() = %s, which does not hold this package: %v", root, err)
	}
}
