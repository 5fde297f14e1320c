//go:build e2e

// Package integration runs IronLB's API and binaries against a real
// kube-apiserver and etcd (one control plane for the whole package).
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/test/testenv"
)

// namespace is the seed's release namespace, where the configuration lives.
const namespace = "metallb-system"

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, func(e *testenv.Env) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
		if err := e.Client.Create(context.Background(), ns); err != nil {
			return fmt.Errorf("creating namespace %s: %w", namespace, err)
		}
		return nil
	}, dualStack))
}

// dualStack gives Services both families, as a dual-stack cluster does,
// so the corpus can hold MetalLB's dual-stack examples.
var dualStack = testenv.WithAPIServerArg("service-cluster-ip-range", "10.0.0.0/24,fd00:10::/108")
