package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binaries are the controller and speaker built from a clone.
type Binaries struct {
	Controller, Speaker string
}

// BuildBinaries builds cmd/controller and cmd/speaker of the clone at root
// into dir: the one place the harness builds the product. Inside a test
// binary they are built with the race detector, so a data race in a child
// process is reported on its stderr (which the harness keeps) and makes it
// exit 66; benchmarks (main programs) get the binaries as shipped, so their
// numbers are the product's.
func BuildBinaries(root, dir string) (Binaries, error) {
	args := []string{"build", "-o", dir}
	if testing.Testing() {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/controller", "./cmd/speaker")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return Binaries{Controller: filepath.Join(dir, "controller"), Speaker: filepath.Join(dir, "speaker")}, nil
}
