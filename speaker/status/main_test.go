//go:build e2e

package status

import (
	"os"
	"testing"

	"github.com/ironlb/ironlb/test/testenv"
)

// env is the package's control plane, started once.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, nil)) }
