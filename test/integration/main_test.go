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
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting control plane: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping control plane: %v\n", err)
		}
	}()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		fmt.Fprintf(os.Stderr, "creating namespace %s: %v\n", namespace, err)
		return 1
	}
	return m.Run()
}
