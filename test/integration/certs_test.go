//go:build e2e

package integration

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/go-logr/logr"

	"github.com/ironlb/ironlb/controllers/certs"
)

func leafOf(t *testing.T, pemData []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWebhookCertificateRotates: with a one-hour certificate and a clock we
// move, the serving certificate is re-issued once less than a third of its
// life is left, signed by the same CA (the caBundle stays valid), and the
// files the webhook server reads follow.
func TestWebhookCertificateRotates(t *testing.T) {
	ctx := context.Background()
	const ns = "ironlb-certs"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	url := "https://127.0.0.1:1/validate"
	none := admissionregistrationv1.SideEffectClassNone
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ironlb-certs-test"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "never.called.ironlb.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
			SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if err := env.Client.Create(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, vwc) })

	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	m := &certs.Manager{
		Client: env.Client, Namespace: ns, SecretName: "webhook-cert", ServiceName: "ironlb-webhook-service",
		ExtraHosts: []string{"127.0.0.1"}, WebhookConfigName: vwc.Name, CertDir: dir, Clock: clock, Log: logr.Discard(),
		CAValidity: 24 * time.Hour, CertValidity: time.Hour,
	}
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	read := func() (ca, leaf *x509.Certificate) {
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "webhook-cert"}, &secret); err != nil {
			t.Fatal(err)
		}
		return leafOf(t, secret.Data["ca.crt"]), leafOf(t, secret.Data["tls.crt"])
	}
	ca1, leaf1 := read()
	if err := leaf1.VerifyHostname("ironlb-webhook-service.ironlb-certs.svc"); err != nil {
		t.Errorf("certificate not valid for the Service name: %v", err)
	}
	if err := leaf1.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("certificate not valid for the extra host: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca1)
	if _, err := leaf1.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: clock.Now()}); err != nil {
		t.Errorf("serving certificate does not chain to the CA: %v", err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: vwc.Name}, vwc); err != nil {
		t.Fatal(err)
	}
	if string(vwc.Webhooks[0].ClientConfig.CABundle) != string(secret.Data["ca.crt"]) { // no previous CA yet
		t.Error("caBundle is not the CA")
	}

	clock.Step(30 * time.Minute) // half its life left: kept
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, leaf := read(); leaf.SerialNumber.Cmp(leaf1.SerialNumber) != 0 {
		t.Error("certificate re-issued with half its life left")
	}
	clock.Step(15 * time.Minute) // 15 minutes left, under a third: renewed
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	ca2, leaf2 := read()
	if leaf2.SerialNumber.Cmp(leaf1.SerialNumber) == 0 || !leaf2.NotAfter.After(leaf1.NotAfter) {
		t.Error("certificate not renewed with 15 of 60 minutes left")
	}
	if !ca2.Equal(ca1) {
		t.Error("renewing the serving certificate replaced the CA, invalidating the published caBundle")
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !leafOf(t, onDisk).Equal(leaf2) {
		t.Error("the webhook server's tls.crt is not the renewed certificate")
	}

	clock.Step(17 * time.Hour) // CA has 6h15m of 24h left, under a third: a new CA, published beside the old
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	ca3, _ := read()
	if ca3.Equal(ca1) {
		t.Error("CA not replaced near its expiry")
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: vwc.Name}, vwc); err != nil {
		t.Fatal(err)
	}
	bundle := vwc.Webhooks[0].ClientConfig.CABundle
	first, rest := pem.Decode(bundle)
	second, _ := pem.Decode(rest)
	if first == nil || second == nil {
		t.Fatalf("caBundle holds fewer than two certificates:\n%s", bundle)
	}
	if c, _ := x509.ParseCertificate(first.Bytes); c == nil || !c.Equal(ca3) {
		t.Error("the new CA is not first in the caBundle")
	}
	if c, _ := x509.ParseCertificate(second.Bytes); c == nil || !c.Equal(ca1) {
		t.Error("the old CA left the caBundle before it expired")
	}
}
