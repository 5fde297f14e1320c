// Package cache is where the Makefile, the tests and the lab keep what is
// slow to build (the Kubernetes binaries, helm, schemas, images, the lab's
// state): $IRONLB_CACHE, by default ~/.cache/ironlb, outside the clone, so a
// fresh clone on a machine that built once pays nothing. hack/k8s-binaries.sh
// and the Makefile use the same defaults; test/compat checks the version.
package cache

import (
	"fmt"
	"os"
	"path/filepath"
)

// DefaultK8sVersion is the Makefile's K8S_VERSION.
const DefaultK8sVersion = "v1.36.3"

// Dir is ${IRONLB_CACHE:-$HOME/.cache/ironlb}.
func Dir() (string, error) {
	if d := os.Getenv("IRONLB_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: neither IRONLB_CACHE nor a home directory: %w", err)
	}
	return filepath.Join(home, ".cache", "ironlb"), nil
}

// K8sVersion is ${K8S_VERSION:-DefaultK8sVersion}.
func K8sVersion() string {
	if v := os.Getenv("K8S_VERSION"); v != "" {
		return v
	}
	return DefaultK8sVersion
}

// K8sBinDir is where hack/k8s-binaries.sh puts the Kubernetes binaries of
// K8sVersion.
func K8sBinDir() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "k8s", K8sVersion(), "bin"), nil
}
