// Package certs keeps the admission webhook's TLS certificate without
// cert-manager: a CA and a serving certificate stored in a Secret, the
// serving files written for the webhook server, and the CA published in the
// ValidatingWebhookConfiguration's caBundle. The serving certificate is
// re-issued well before it expires.
package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Secret keys.
const (
	keyCACert = "ca.crt"
	// keyPreviousCA keeps the replaced CA in the caBundle until it expires,
	// so an apiserver that has not seen the new bundle yet still trusts a
	// certificate signed by the new CA's predecessor, and vice versa.
	keyPreviousCA = "ca-previous.crt"
	keyCAKey      = "ca.key"
	keyCert       = "tls.crt"
	keyKey        = "tls.key"
)

// Manager keeps the webhook certificate. Its zero timers are replaced by the
// defaults in New.
type Manager struct {
	Client    client.Client
	Namespace string
	// SecretName holds the CA and the serving certificate.
	SecretName string
	// ServiceName is the webhook Service; the certificate is valid for its
	// in-cluster DNS names.
	ServiceName string
	// ExtraHosts are further DNS names or IPs the certificate is valid for
	// (an apiserver that reaches the webhook by address).
	ExtraHosts []string
	// WebhookConfigName is the ValidatingWebhookConfiguration whose
	// caBundle is kept current.
	WebhookConfigName string
	// ConversionCRDs are CRDs whose conversion webhook is this server at
	// ConversionPath (bgppeers.metallb.io); their caBundle is kept current,
	// and a CRD whose webhook Service is gone (left by MetalLB) is pointed
	// here.
	ConversionCRDs []string
	ConversionPath string
	// CertDir receives tls.crt and tls.key for the webhook server.
	CertDir string
	Clock   clock.WithTicker
	Log     logr.Logger

	// CAValidity is the CA's lifetime: long, since changing it changes the
	// caBundle every apiserver trusts. The CA is replaced when a third of
	// its life is left, and the old one stays in the bundle until it expires.
	CAValidity time.Duration
	// CertValidity is the serving certificate's lifetime.
	CertValidity time.Duration
	// RenewBefore re-issues the serving certificate when less than this is
	// left: a third of its life, so a controller down for weeks still
	// finds a valid one when it returns.
	RenewBefore time.Duration
	// CheckEvery is how often Start looks at the expiry.
	CheckEvery time.Duration
	// ConversionCheckEvery is how often Start looks again at a conversion
	// CRD another webhook serves, to take it over soon after that webhook's
	// Service goes.
	ConversionCheckEvery time.Duration

	// lastCA is the bundle Ensure last published; conversionDeferred the
	// CRDs another webhook serves. Both belong to the goroutine calling
	// Ensure and Start.
	lastCA             []byte
	conversionDeferred map[string]bool
	conversionFailed   bool
}

// Defaults: a 10-year CA, a 1-year serving certificate renewed 4 months
// before it expires, checked hourly.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
	DefaultCheckEvery   = time.Hour
	// DefaultConversionCheckEvery bounds how long v1beta1 BGPPeers stay
	// unreadable after MetalLB's webhook Service is deleted.
	DefaultConversionCheckEvery = 10 * time.Second
)

func (m *Manager) defaults() {
	if m.Clock == nil {
		m.Clock = clock.RealClock{}
	}
	if m.CAValidity == 0 {
		m.CAValidity = DefaultCAValidity
	}
	if m.CertValidity == 0 {
		m.CertValidity = DefaultCertValidity
	}
	if m.RenewBefore == 0 {
		m.RenewBefore = m.CertValidity / 3
	}
	if m.CheckEvery == 0 {
		m.CheckEvery = DefaultCheckEvery
	}
	if m.ConversionCheckEvery == 0 {
		m.ConversionCheckEvery = DefaultConversionCheckEvery
	}
}

// Ensure makes the Secret, the files and the caBundle current. It is safe
// to call repeatedly and from several replicas: the Secret is the one truth.
func (m *Manager) Ensure(ctx context.Context) error {
	m.defaults()
	var secret corev1.Secret
	key := types.NamespacedName{Namespace: m.Namespace, Name: m.SecretName}
	err := m.Client.Get(ctx, key, &secret)
	switch {
	case apierrors.IsNotFound(err):
		secret = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.SecretName}, Type: corev1.SecretTypeTLS}
		if err := m.issue(&secret); err != nil {
			return err
		}
		if err := m.Client.Create(ctx, &secret); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return m.Ensure(ctx) // another replica won the race
			}
			return fmt.Errorf("creating webhook certificate Secret %s: %w", key, err)
		}
		m.Log.Info("created webhook certificate", "secret", key.String())
	case err != nil:
		return fmt.Errorf("reading webhook certificate Secret %s: %w", key, err)
	default:
		if m.needsRenewal(&secret) {
			if err := m.issue(&secret); err != nil {
				return err
			}
			if err := m.Client.Update(ctx, &secret); err != nil {
				return fmt.Errorf("renewing webhook certificate in Secret %s: %w", key, err)
			}
			m.Log.Info("renewed webhook certificate", "secret", key.String())
		}
	}
	if err := m.writeFiles(&secret); err != nil {
		return err
	}
	m.lastCA = m.caBundle(&secret)
	// A CRD that cannot be patched (RBAC, a transient apiserver error) is
	// retried every ConversionCheckEvery; it must not stop the controller,
	// which still validates and assigns.
	m.conversionFailed = false
	if err := m.patchConversion(ctx, m.lastCA); err != nil {
		m.conversionFailed = true
		m.Log.Error(err, "keeping the BGPPeer CRD's conversion webhook current; will retry", "retryIn", m.ConversionCheckEvery)
	}
	return m.patchCABundle(ctx, m.lastCA)
}

// Start re-checks the certificate every CheckEvery until ctx ends.
func (m *Manager) Start(ctx context.Context) error {
	m.defaults()
	t := m.Clock.NewTicker(m.CheckEvery)
	defer t.Stop()
	conv := m.Clock.NewTicker(m.ConversionCheckEvery)
	defer conv.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			if err := m.Ensure(ctx); err != nil {
				m.Log.Error(err, "keeping the webhook certificate current; will retry", "retryIn", m.CheckEvery)
			}
		case <-conv.C():
			if (len(m.conversionDeferred) == 0 && !m.conversionFailed) || m.lastCA == nil {
				continue
			}
			err := m.patchConversion(ctx, m.lastCA)
			m.conversionFailed = err != nil
			if err != nil {
				m.Log.Error(err, "keeping the BGPPeer CRD's conversion webhook current; will retry", "retryIn", m.ConversionCheckEvery)
			}
		}
	}
}

// NeedLeaderElection: every replica serves the webhook, so each keeps its
// files current.
func (m *Manager) NeedLeaderElection() bool { return false }

// needsRenewal: missing or unparsable material, a CA or certificate close to
// expiry, or a certificate not valid for the current names.
func (m *Manager) needsRenewal(s *corev1.Secret) bool {
	now := m.Clock.Now()
	ca, err1 := parseCert(s.Data[keyCACert])
	leaf, err2 := parseCert(s.Data[keyCert])
	if err1 != nil || err2 != nil || len(s.Data[keyKey]) == 0 || len(s.Data[keyCAKey]) == 0 {
		return true
	}
	if now.Add(m.RenewBefore).After(leaf.NotAfter) || now.Add(m.CAValidity/3).After(ca.NotAfter) {
		return true
	}
	for _, h := range m.hosts() {
		if leaf.VerifyHostname(h) != nil {
			return true
		}
	}
	return false
}

// caBundle is the current CA, followed by the previous one while it is
// still valid.
func (m *Manager) caBundle(s *corev1.Secret) []byte {
	bundle := bytes.Clone(s.Data[keyCACert])
	if prev, err := parseCert(s.Data[keyPreviousCA]); err == nil && m.Clock.Now().Before(prev.NotAfter) {
		bundle = append(bundle, s.Data[keyPreviousCA]...)
	}
	return bundle
}

func (m *Manager) hosts() []string {
	svc := m.ServiceName
	hosts := []string{svc, svc + "." + m.Namespace, svc + "." + m.Namespace + ".svc", svc + "." + m.Namespace + ".svc.cluster.local"}
	return append(hosts, m.ExtraHosts...)
}

// issue fills the Secret with a serving certificate, reusing a CA that is
// still good for longer than RenewBefore, or a new CA otherwise.
func (m *Manager) issue(s *corev1.Secret) error {
	now := m.Clock.Now()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	ca, caErr := parseCert(s.Data[keyCACert])
	caKey, keyErr := parseKey(s.Data[keyCAKey])
	if caErr != nil || keyErr != nil || now.Add(m.CAValidity/3).After(ca.NotAfter) {
		if caErr == nil && now.Before(ca.NotAfter) {
			s.Data[keyPreviousCA] = s.Data[keyCACert]
		}
		var err error
		ca, caKey, err = newCA(now, m.CAValidity)
		if err != nil {
			return err
		}
		s.Data[keyCACert] = pemCert(ca.Raw)
		s.Data[keyCAKey], err = pemKey(caKey)
		if err != nil {
			return err
		}
	}
	certDER, key, err := newServing(now, m.CertValidity, ca, caKey, m.hosts())
	if err != nil {
		return err
	}
	s.Data[keyCert] = pemCert(certDER)
	s.Data[keyKey], err = pemKey(key)
	return err
}

func (m *Manager) writeFiles(s *corev1.Secret) error {
	if m.CertDir == "" {
		return nil
	}
	if err := os.MkdirAll(m.CertDir, 0o700); err != nil {
		return fmt.Errorf("creating webhook cert dir: %w", err)
	}
	for name, data := range map[string][]byte{keyCert: s.Data[keyCert], keyKey: s.Data[keyKey]} {
		path := filepath.Join(m.CertDir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		// Write then rename, so the server's file watcher never reads a
		// half-written key.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

func (m *Manager) patchCABundle(ctx context.Context, ca []byte) error {
	if m.WebhookConfigName == "" {
		return nil
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := m.Client.Get(ctx, types.NamespacedName{Name: m.WebhookConfigName}, &vwc); err != nil {
		if apierrors.IsNotFound(err) {
			m.Log.Info("webhook configuration not found; nothing to patch yet", "webhookConfiguration", m.WebhookConfigName)
			return nil
		}
		return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", m.WebhookConfigName, err)
	}
	orig := vwc.DeepCopy()
	changed := false
	for i := range vwc.Webhooks {
		if !bytes.Equal(vwc.Webhooks[i].ClientConfig.CABundle, ca) {
			vwc.Webhooks[i].ClientConfig.CABundle = ca
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := m.Client.Patch(ctx, &vwc, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("patching caBundle of ValidatingWebhookConfiguration %s: %w", m.WebhookConfigName, err)
	}
	m.Log.Info("published webhook CA", "webhookConfiguration", m.WebhookConfigName)
	return nil
}

func newCA(now time.Time, validity time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ironlb-webhook-ca"},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func newServing(now time.Time, validity time.Duration, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing serving certificate: %w", err)
	}
	return der, key, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM key")
	}
	return x509.ParseECPrivateKey(b.Bytes)
}
