package chart

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// root is the repository, two levels up from this package.
var root = func() string {
	p, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return p
}()

var (
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
)

// tool returns the path of a tool pinned in tools/go.mod, built once
// (helm by hack/helm.sh, as make helm and the demo build it).
func tool(t testing.TB, name string) string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolPaths[name]; ok {
		return p
	}
	cmd := exec.Command("go", "tool", "-modfile="+filepath.Join(root, "tools", "go.mod"), "-n", name)
	if name == "helm" { // stamped with its Kubernetes version, as users get it
		cmd = exec.Command(filepath.Join(root, "hack", "helm.sh"))
	}
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building tool %s: %v\n%s", name, err, stderrOf(err))
	}
	p := strings.TrimSpace(string(out))
	toolPaths[name] = p
	return p
}

// run runs a command in the repository and returns its stdout; a failure
// carries stderr.
func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
