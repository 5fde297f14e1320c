//go:build e2e

package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ironlb/ironlb/controllers/certs"
	"github.com/ironlb/ironlb/controllers/webhook"
	"github.com/ironlb/ironlb/internal/cli"
)

// TestWebhookAnswersAcrossCertificateRotation: IronLB's webhook, served
// in-process with a one-hour certificate that the certificate manager's
// own loop (Start, on a clock we move) renews with a third of its life
// left. The Secret is renewed before the old certificate expires, the
// caBundle stays valid, the server picks up the new files, and the real
// apiserver's admission requests keep reaching the webhook: an invalid
// pool is refused with the webhook's message, a valid one admitted.
//
// The fake clock starts at the wall clock's now and moves less than an
// hour, the certificates' backdating, so every certificate it issues is
// valid for the apiserver, which checks them against the wall clock.
func TestWebhookAnswersAcrossCertificateRotation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	const ns = "ironlb-rotation"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	port, dir := freePort(t), t.TempDir()
	clock := clocktesting.NewFakeClock(time.Now())
	cm := &certs.Manager{
		Client: env.Client, Namespace: ns, SecretName: "webhook-cert", ServiceName: "ironlb-webhook-service",
		ExtraHosts: []string{"127.0.0.1"}, WebhookConfigName: webhookConfigName, CertDir: dir, Clock: clock, Log: logr.Discard(),
		CAValidity: 24 * time.Hour, CertValidity: time.Hour, RenewBefore: 20 * time.Minute, CheckEvery: 5 * time.Minute,
	}
	// Cleanups run last first: the configuration goes before the server
	// and the certificate loop stop, so no later test meets a webhook
	// that is gone.
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	installWebhookConfiguration(t, port)
	if err := cm.Ensure(ctx); err != nil {
		t.Fatal(err)
	}

	scheme, err := cli.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.Setup(mgr, mgr.GetAPIReader(), ns); err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	go func() { defer wg.Done(); _ = cm.Start(ctx) }()

	secretLeaf := func() *x509.Certificate {
		t.Helper()
		var s corev1.Secret
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "webhook-cert"}, &s); err != nil {
			t.Fatal(err)
		}
		return leafOf(t, s.Data["tls.crt"])
	}
	admission := func(when string) {
		t.Helper()
		pool := func(name, addr string) string {
			return fmt.Sprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: %s, namespace: %s}\nspec: {addresses: [%s]}\n", name, ns, addr)
		}
		name := "p-" + strings.ReplaceAll(when, " ", "-")
		_, stderr, err := env.KubectlOutput(pool(name+"-bad", "10.60.0.9-10.60.0.1"), "apply", "-f", "-")
		if err == nil || !strings.Contains(stderr, `IPAddressPool "`+name+`-bad": spec.addresses[0]`) {
			t.Fatalf("%s: an invalid pool: %v\n%s\nwant the webhook's refusal", when, err, stderr)
		}
		if _, stderr, err := env.KubectlOutput(pool(name, "10.60."+map[bool]string{true: "1", false: "2"}[when == "before"]+".0/29"), "apply", "-f", "-"); err != nil {
			t.Fatalf("%s: a valid pool refused: %v\n%s", when, err, stderr)
		}
	}
	waitServing(t, port, secretLeaf())
	admission("before")

	leaf1 := secretLeaf()
	// 45 minutes on: 15 left, under RenewBefore. The manager's own ticker
	// fires and renews; wait for the Secret to change.
	clock.Step(45 * time.Minute)
	leaf2 := leaf1
	for deadline := time.Now().Add(time.Minute); leaf2.SerialNumber.Cmp(leaf1.SerialNumber) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the certificate manager did not renew the certificate with 15 of 60 minutes left")
		}
		time.Sleep(100 * time.Millisecond)
		leaf2 = secretLeaf()
	}
	if !clock.Now().Before(leaf1.NotAfter) {
		t.Errorf("renewed at %s, after the old certificate expired at %s", clock.Now(), leaf1.NotAfter)
	}
	if !leaf2.NotAfter.After(leaf1.NotAfter) {
		t.Errorf("the renewed certificate expires at %s, not after the old one's %s", leaf2.NotAfter, leaf1.NotAfter)
	}
	waitServing(t, port, leaf2)
	admission("after")
}

// waitServing waits until the webhook server presents want: the server
// reloads its files on a file watch, on its own schedule.
func waitServing(t *testing.T, port int, want *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reads the served certificate
		if err == nil {
			got := conn.ConnectionState().PeerCertificates[0]
			_ = conn.Close()
			if got.Equal(want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook server does not serve certificate %s: %v", want.SerialNumber, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
