//go:build e2e

package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/controllers/certs"
	"github.com/ironlb/ironlb/controllers/webhook"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/test/poll"
)

// bgpPeerCRD reads the BGPPeer CRD and restores its conversion when the
// test ends (after what the test started later has stopped), waiting until
// the apiserver converts without a webhook again: the other tests of the
// package share the CRD, and a controller with its webhook on points the
// CRD at a webhook Service this apiserver cannot reach.
func bgpPeerCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	ctx := context.Background()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(ctx, types.NamespacedName{Name: compat.BGPPeerCRD}, &crd); err != nil {
		t.Fatal(err)
	}
	orig := crd.Spec.Conversion.DeepCopy()
	t.Cleanup(func() {
		var now apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, types.NamespacedName{Name: compat.BGPPeerCRD}, &now); err != nil {
			t.Error(err)
			return
		}
		now.Spec.Conversion = orig
		if err := env.Client.Update(ctx, &now); err != nil {
			t.Errorf("restoring the BGPPeer CRD's conversion: %v", err)
			return
		}
		// A server-side dry run converts the object as a write would.
		probe := "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: conversion-probe, namespace: default}\n" +
			"spec: {myASN: 64512, peerASN: 64500, peerAddress: 192.0.2.9}\n"
		poll.True(t, "v1beta1 BGPPeers convert without a webhook again", 30*time.Second, 100*time.Millisecond, func() bool {
			_, err := env.Kubectl(probe, "create", "--dry-run=server", "-f", "-")
			return err == nil
		})
	})
	return &crd
}

func setConversion(t *testing.T, conv *apiextensionsv1.CustomResourceConversion) {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: compat.BGPPeerCRD}, &crd); err != nil {
		t.Fatal(err)
	}
	crd.Spec.Conversion = conv
	if err := env.Client.Update(context.Background(), &crd); err != nil {
		t.Fatal(err)
	}
}

func serviceRef(ns, name string) *apiextensionsv1.CustomResourceConversion {
	path := "/convert"
	return &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
		Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1beta1", "v1beta2"},
			ClientConfig: &apiextensionsv1.WebhookClientConfig{Service: &apiextensionsv1.ServiceReference{Namespace: ns, Name: name, Path: &path}}}}
}

// TestBGPPeerConversionWebhook: the apiserver converts BGPPeers through the
// controller's webhook. A v1beta1 client reads a v1beta2 peer, updates it,
// and the fields v1beta1 cannot show (vrf, passwordSecret, the immutable
// enableGracefulRestart) are still there afterwards; a v1beta1 manifest is
// stored and read back as v1beta2. The certificate manager points the CRD at
// the webhook Service with the current CA.
func TestBGPPeerConversionWebhook(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bgpPeerCRD(t)
	dir, port := t.TempDir(), freePort(t)
	cm := &certs.Manager{Client: env.Client, Namespace: namespace, SecretName: "conversion-test-cert", ServiceName: "ironlb-webhook-service",
		ExtraHosts: []string{"127.0.0.1"}, CertDir: dir, Log: logr.Discard(),
		ConversionCRDs: []string{compat.BGPPeerCRD}, ConversionPath: webhook.ConversionPath}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "conversion-test-cert"}})
	})
	if err := cm.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: compat.BGPPeerCRD}, crd); err != nil {
		t.Fatal(err)
	}
	conv := crd.Spec.Conversion
	if conv.Strategy != apiextensionsv1.WebhookConverter || conv.Webhook.ClientConfig.Service == nil ||
		conv.Webhook.ClientConfig.Service.Name != "ironlb-webhook-service" || *conv.Webhook.ClientConfig.Service.Path != "/convert" ||
		len(conv.Webhook.ClientConfig.CABundle) == 0 {
		t.Fatalf("CRD conversion after Ensure = %+v, want the webhook Service at /convert with a caBundle", conv)
	}

	// The test's apiserver cannot reach a Service; the same webhook by URL.
	scheme := env.Client.Scheme()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})})
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.SetupConversion(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	poll.True(t, "the webhook server listens", 10*time.Second, 50*time.Millisecond, func() bool {
		return mgr.GetWebhookServer().StartedChecker()(&http.Request{}) == nil
	})
	url := fmt.Sprintf("https://127.0.0.1:%d/convert", port)
	byURL := conv.DeepCopy()
	byURL.Webhook.ClientConfig.Service, byURL.Webhook.ClientConfig.URL = nil, &url
	setConversion(t, byURL)

	hub := &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "converted-peer"},
		Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64500, Address: "192.0.2.1", VRFName: "red", EnableGracefulRestart: true,
			PasswordSecret: corev1.SecretReference{Name: "bgp-pw", Namespace: namespace}}}
	// The CRD change takes a moment to reach the apiserver's handlers.
	poll.True(t, "a v1beta2 peer is created and read as v1beta1", 20*time.Second, 50*time.Millisecond, func() bool {
		if err := env.Client.Create(ctx, hub.DeepCopy()); err != nil && !strings.Contains(err.Error(), "already exists") {
			return false
		}
		var old v1beta1.BGPPeer
		return env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: hub.Name}, &old) == nil
	})
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), hub) })

	var old v1beta1.BGPPeer
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: hub.Name}, &old); err != nil {
		t.Fatal(err)
	}
	if old.Spec.Address != "192.0.2.1" || old.Annotations[v1beta1.V1beta2FieldsAnnotation] == "" {
		t.Fatalf("v1beta1 view %+v (annotations %v): want the address and the v1beta2 fields kept in an annotation", old.Spec, old.Annotations)
	}
	old.Spec.HoldTime = metav1.Duration{Duration: 120 * time.Second}
	if err := env.Client.Update(ctx, &old); err != nil {
		t.Fatalf("a v1beta1 client updating the peer: %v", err)
	}
	var got v1beta2.BGPPeer
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: hub.Name}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.HoldTime == nil || got.Spec.HoldTime.Duration != 120*time.Second {
		t.Errorf("the v1beta1 update was lost: holdTime %v", got.Spec.HoldTime)
	}
	if got.Spec.VRFName != "red" || !got.Spec.EnableGracefulRestart || got.Spec.PasswordSecret.Name != "bgp-pw" {
		t.Errorf("a v1beta1 update erased v1beta2 fields: %+v", got.Spec)
	}
	if _, ok := got.Annotations[v1beta1.V1beta2FieldsAnnotation]; ok {
		t.Errorf("the stored peer keeps the conversion annotation: %v", got.Annotations)
	}

	legacy := &v1beta1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "legacy-converted"},
		Spec: v1beta1.BGPPeerSpec{MyASN: 64512, ASN: 64501, Address: "192.0.2.2", NodeSelectors: []v1beta1.NodeSelector{{MatchLabels: map[string]string{"rack": "a"}}}}}
	if err := env.Client.Create(ctx, legacy); err != nil {
		t.Fatalf("creating a v1beta1 peer: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), legacy) })
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: legacy.Name}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.ASN != 64501 || got.Spec.NodeSelectors[0].MatchLabels["rack"] != "a" || got.Spec.HoldTime != nil {
		t.Errorf("v1beta1 peer read as v1beta2: %+v", got.Spec)
	}
}

// TestConversionTakeover: while MetalLB's webhook Service exists, the
// certificate manager leaves the CRD's conversion to it (two rotators would
// fight over the caBundle); once the Service is deleted, the manager points
// the CRD at IronLB's webhook within one ConversionCheckEvery.
func TestConversionTakeover(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bgpPeerCRD(t)
	metallb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "metallb-webhook-service"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}
	if err := env.Client.Create(ctx, metallb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), metallb) })
	setConversion(t, serviceRef(namespace, metallb.Name))

	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cm := &certs.Manager{Client: env.Client, Namespace: namespace, SecretName: "takeover-test-cert", ServiceName: "ironlb-webhook-service",
		CertDir: t.TempDir(), Log: logr.Discard(), Clock: clock,
		ConversionCRDs: []string{compat.BGPPeerCRD}, ConversionPath: webhook.ConversionPath}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "takeover-test-cert"}})
	})
	if err := cm.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	converter := func() string {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, types.NamespacedName{Name: compat.BGPPeerCRD}, &crd); err != nil {
			t.Fatal(err)
		}
		return crd.Spec.Conversion.Webhook.ClientConfig.Service.Name
	}
	if got := converter(); got != metallb.Name {
		t.Fatalf("conversion taken from a live MetalLB webhook: now %s", got)
	}
	done := make(chan error, 1)
	go func() { done <- cm.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := env.Client.Delete(ctx, metallb); err != nil {
		t.Fatal(err)
	}
	poll.True(t, "the manager's tickers wait", 10*time.Second, 50*time.Millisecond, clock.HasWaiters)
	clock.Step(certs.DefaultConversionCheckEvery)
	poll.True(t, "the conversion points at IronLB's webhook", 10*time.Second, 50*time.Millisecond, func() bool { return converter() == "ironlb-webhook-service" })
}
