//go:build e2e

package chaos

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ironlb/ironlb/test/testenv"
)

// Scale. The defaults are the reduced run make test does (well under
// three minutes); make chaos passes the full figures.
var (
	flagServices = flag.Int("services", 1000, "allocation storm: Services created")
	flagKills    = flag.Int("kills", 10, "allocation storm: SIGKILLs of the leading controller replica during the storm (each a leader change)")
	flagCreators = flag.Int("creators", 8, "allocation storm: concurrent clients creating Services")
	flagSeed     = flag.Int64("seed", 0, "allocation storm: seed of the kill points (0: from the clock; printed)")
	flagVIPs     = flag.Int("vips", 3, "layer 2: Services probed by the client")
	flagHold     = flag.Duration("hold", 5*time.Second, "layer 2: how long a partition, an invalid configuration or a stopped apiserver lasts")
	flagSettle   = flag.Duration("settle", 2*time.Second, "layer 2: one owner per VIP for this long counts as settled")
)

// Binaries built once for every test of the package.
var controllerBin, speakerBin string

func TestMain(m *testing.M) {
	flag.Parse()
	// envtest logs through controller-runtime's logger; nothing to show.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "ironlb-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins, err := testenv.BuildBinaries(root, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	controllerBin, speakerBin = bins.Controller, bins.Speaker
	return m.Run()
}
