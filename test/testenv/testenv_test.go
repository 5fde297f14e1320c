//go:build e2e

package testenv

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestRestartAPIServer: objects written before the apiserver stops (or is
// killed) are there after it starts again (etcd kept them), the client
// made before the stop still works (same address, same certificates), and
// so does kubectl with the kubeconfig file.
func TestRestartAPIServer(t *testing.T) {
	env, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "survivor"}, Data: map[string]string{"k": "v"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}

	killed, err := env.StopAPIServer(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if killed {
		t.Error("kube-apiserver with no watching client needed a SIGKILL")
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "survivor"}, &corev1.ConfigMap{}); err == nil {
		t.Fatal("a Get succeeded while the apiserver was stopped")
	}
	if err := env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}

	var got corev1.ConfigMap
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "survivor"}, &got); err != nil {
		t.Fatalf("the client made before the restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("after the restart the ConfigMap holds %v, want k=v", got.Data)
	}
	if out, err := env.Kubectl("", "get", "configmap", "survivor", "-o", "name"); err != nil || out != "configmap/survivor\n" {
		t.Errorf("kubectl after the restart: %q, %v", out, err)
	}

	// No grace: SIGKILL, as a crash; it comes back all the same.
	if killed, err := env.StopAPIServer(0); err != nil || !killed {
		t.Fatalf("StopAPIServer(0) = %v, %v; want a SIGKILL", killed, err)
	}
	if err := env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "survivor"}, &got); err != nil {
		t.Fatalf("after a SIGKILL and a start: %v", err)
	}
}
