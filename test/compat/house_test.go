package compat

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ironlb/ironlb"

// goPackage is what these rules read from go list -json.
type goPackage struct {
	ImportPath   string
	Dir          string
	Imports      []string
	TestGoFiles  []string
	XTestGoFiles []string
}

// listPackages runs go list -json on patterns, without the e2e tag: the
// test files it reports are those of the unit tier.
func listPackages(t *testing.T, patterns ...string) []goPackage {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, patterns...)...).Output()
	if err != nil {
		t.Fatalf("go list -json %v: %v", patterns, err)
	}
	var pkgs []goPackage
	for dec := json.NewDecoder(strings.NewReader(string(out))); dec.More(); {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list -json: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %v found no packages: the search is broken", patterns)
	}
	return pkgs
}

// isHarness reports whether a package of this module belongs to the test
// house rather than the product: test/ and hack/.
func isHarness(importPath string) bool {
	rel := strings.TrimPrefix(importPath, module+"/")
	return strings.HasPrefix(rel, "test/") || strings.HasPrefix(rel, "hack/")
}

// TestOnlyImporters: each third-party library the speaker talks to the
// network through has one importer in the product, so replacing or
// auditing it is one package's work.
func TestOnlyImporters(t *testing.T) {
	only := map[string]string{
		"github.com/mdlayher/":            module + "/speaker/layer2",
		"github.com/hashicorp/memberlist": module + "/speaker/members",
		"github.com/osrg/gobgp/":          module + "/speaker/bgp",
	}
	for _, p := range listPackages(t, module+"/...") {
		if isHarness(p.ImportPath) {
			continue
		}
		for _, imp := range p.Imports {
			for prefix, owner := range only {
				if strings.HasPrefix(imp, prefix) && p.ImportPath != owner {
					t.Errorf("%s imports %s; only %s may", p.ImportPath, imp, owner)
				}
			}
		}
	}
}

// TestProductImportsNoTestPackage: nothing that ships depends on the test
// house, directly or through another package.
func TestProductImportsNoTestPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/controller", module+"/cmd/speaker").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, module+"/") && isHarness(dep) {
			t.Errorf("the controller or speaker depends on %s", dep)
		}
	}
	for _, p := range listPackages(t, module+"/...") {
		if isHarness(p.ImportPath) {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") && isHarness(imp) {
				t.Errorf("%s imports %s", p.ImportPath, imp)
			}
		}
	}
}

// TestUnitTierNeedsNoRoot: go test ./... is the tier a contributor runs
// after every change, without root or a Kubernetes build (docs/testing.md).
// A test file that builds namespaces, starts an apiserver or FRR, or runs
// the lab carries the e2e build tag; without it, go list reports the file
// in the unit tier and this test names it.
func TestUnitTierNeedsNoRoot(t *testing.T) {
	e2eOnly := []string{
		module + "/test/testenv", module + "/test/netns", module + "/test/l2lab",
		module + "/test/frr", module + "/test/chaos",
		"sigs.k8s.io/controller-runtime/pkg/envtest",
	}
	fset := token.NewFileSet()
	checked := 0
	for _, p := range listPackages(t, module+"/...") {
		for _, name := range append(p.TestGoFiles, p.XTestGoFiles...) {
			file := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, spec := range f.Imports {
				imp, _ := strconv.Unquote(spec.Path.Value)
				for _, e := range e2eOnly {
					if imp == e || strings.HasPrefix(imp, e+"/") {
						t.Errorf("%s imports %s but has no //go:build e2e line", file, imp)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no unit-tier test files found: the search is broken")
	}
}

// TestKubernetesVersionAgrees: the Makefile's K8S_VERSION is the version
// every default elsewhere names, so a bump cannot leave a test on another.
func TestKubernetesVersionAgrees(t *testing.T) {
	root := repoRoot(t)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	m := regexp.MustCompile(`(?m)^K8S_VERSION\s*\?=\s*(\S+)`).FindStringSubmatch(read("Makefile"))
	if m == nil {
		t.Fatal("no K8S_VERSION in the Makefile")
	}
	want := m[1]
	for rel, re := range map[string]string{
		"hack/k8s-binaries.sh":       `K8S_VERSION="\$\{K8S_VERSION:-(v[0-9.]+)\}"`,
		"test/cache/cache.go":        `const DefaultK8sVersion = "(v[0-9.]+)"`,
		"test/chart/schemas_test.go": `const k8sVersion = "(v[0-9.]+)"`,
	} {
		got := regexp.MustCompile(re).FindStringSubmatch(read(rel))
		if got == nil {
			t.Errorf("%s: no Kubernetes version matching %s", rel, re)
		} else if got[1] != want {
			t.Errorf("%s names Kubernetes %s, the Makefile's K8S_VERSION is %s", rel, got[1], want)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
