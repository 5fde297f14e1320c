package compat

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules keeps the pure packages pure, transitively (a linter sees
// only direct imports): decisions are testable without a cluster only if
// they cannot reach one.
func TestImportRules(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"github.com/ironlb/ironlb/internal/ipam", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"github.com/ironlb/ironlb/internal/config", []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime"}},
		{"github.com/ironlb/ironlb/internal/compat", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"github.com/ironlb/ironlb/speaker/election", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"github.com/ironlb/ironlb/speaker/ifwatch", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"github.com/ironlb/ironlb/speaker/loop", []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "github.com/mdlayher", "github.com/osrg/gobgp"}},
		{"github.com/ironlb/ironlb/speaker/agent", []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "github.com/mdlayher", "github.com/hashicorp/memberlist", "github.com/osrg/gobgp"}},
		{"github.com/ironlb/ironlb/speaker/bgpspec", []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "github.com/osrg/gobgp"}},
		{"github.com/ironlb/ironlb/speaker/bgp", []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime"}},
		{"github.com/ironlb/ironlb/speaker/bfd", []string{"k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go", "sigs.k8s.io/", "github.com/osrg/gobgp", "github.com/hashicorp/memberlist", "github.com/mdlayher"}},
		{"github.com/ironlb/ironlb/api/v1beta1", []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime"}},
		{"github.com/ironlb/ironlb/api/v1beta2", []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", r.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", r.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s (forbidden: %s)", r.pkg, dep, f)
				}
			}
		}
	}
}
