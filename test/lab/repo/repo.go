// Package repo finds the IronLB clone the lab runs from. The lab is a
// module of its own under test/lab, so "the module root" is ambiguous: the
// lab's tools start from the clone (make demo, make lab, bin/ironlab) or
// from test/lab (go test), and read the chart, the seed and the product's
// sources from the clone's root either way.
package repo

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// productModule is the module line of the clone's root go.mod.
const productModule = "github.com/ironlb/ironlb"

// Root returns the clone's root: the nearest directory at or above the
// working directory whose go.mod declares the product module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return rootFrom(dir)
}

func rootFrom(dir string) (string, error) {
	for start := dir; ; {
		if module(filepath.Join(dir, "go.mod")) == productModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no IronLB clone at or above %s (a go.mod declaring %s): run inside the clone", start, productModule)
		}
		dir = parent
	}
}

// Lab returns the lab module's directory in the clone.
func Lab() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "test", "lab"), nil
}

// module reads the module path a go.mod declares ("" if none).
func module(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
