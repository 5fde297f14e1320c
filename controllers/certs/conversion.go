package certs

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ConversionReviewVersions are the ConversionReview versions MetalLB's CRD
// lists; kept as they are so that IronLB's CRD and MetalLB's are equal.
var ConversionReviewVersions = []string{"v1beta1", "v1beta2"}

// webhookPort is the Service port the apiserver calls, the default one.
const webhookPort = 443

// conversionOwner says whether the CRD's conversion may be pointed at this
// webhook: when it already is, when it names no Service, or when the
// Service it names does not exist (MetalLB's, after MetalLB is gone). A
// webhook that exists and is not ours is left alone: MetalLB's controller,
// still running during a migration, would otherwise rewrite the caBundle
// back and forth with us.
func (m *Manager) conversionOwner(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (bool, string, error) {
	conv := crd.Spec.Conversion
	if conv == nil || conv.Webhook == nil || conv.Webhook.ClientConfig == nil || conv.Webhook.ClientConfig.Service == nil {
		return true, "", nil
	}
	svc := conv.Webhook.ClientConfig.Service
	if svc.Namespace == m.Namespace && svc.Name == m.ServiceName {
		return true, "", nil
	}
	other := svc.Namespace + "/" + svc.Name
	var s corev1.Service
	err := m.Client.Get(ctx, types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return true, other, nil
	case err != nil:
		return false, other, fmt.Errorf("reading Service %s, the conversion webhook of CRD %s: %w", other, crd.Name, err)
	}
	return false, other, nil
}

// patchConversion points each conversion CRD at this webhook with the
// current CA, unless another live webhook serves it.
func (m *Manager) patchConversion(ctx context.Context, ca []byte) error {
	for _, name := range m.ConversionCRDs {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := m.Client.Get(ctx, types.NamespacedName{Name: name}, &crd); err != nil {
			if apierrors.IsNotFound(err) {
				m.Log.Info("CRD not found; no conversion to keep", "crd", name)
				continue
			}
			return fmt.Errorf("reading CRD %s: %w", name, err)
		}
		ours, other, err := m.conversionOwner(ctx, &crd)
		if err != nil {
			return err
		}
		if !ours {
			if !m.conversionDeferred[name] {
				m.Log.Info("another webhook converts this CRD; leaving it until its Service is gone", "crd", name, "service", other)
			}
			if m.conversionDeferred == nil {
				m.conversionDeferred = map[string]bool{}
			}
			m.conversionDeferred[name] = true
			continue
		}
		delete(m.conversionDeferred, name)
		want := m.conversion(ca, crd.Spec.Conversion)
		if equalConversion(crd.Spec.Conversion, want) {
			continue
		}
		orig := crd.DeepCopy()
		crd.Spec.Conversion = want
		if err := m.Client.Patch(ctx, &crd, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("pointing the conversion of CRD %s at Service %s/%s: %w", name, m.Namespace, m.ServiceName, err)
		}
		if other != "" {
			m.Log.Info("took over the conversion webhook of a CRD whose webhook Service is gone", "crd", name, "was", other, "now", m.Namespace+"/"+m.ServiceName)
		} else {
			m.Log.Info("published conversion webhook CA", "crd", name)
		}
	}
	return nil
}

// conversion is the CRD's conversion stanza pointing at this webhook; the
// review versions already there are kept.
func (m *Manager) conversion(ca []byte, current *apiextensionsv1.CustomResourceConversion) *apiextensionsv1.CustomResourceConversion {
	path, port := m.ConversionPath, int32(webhookPort)
	versions := slices.Clone(ConversionReviewVersions)
	if current != nil && current.Webhook != nil && len(current.Webhook.ConversionReviewVersions) > 0 {
		versions = slices.Clone(current.Webhook.ConversionReviewVersions)
	}
	return &apiextensionsv1.CustomResourceConversion{
		Strategy: apiextensionsv1.WebhookConverter,
		Webhook: &apiextensionsv1.WebhookConversion{
			ClientConfig: &apiextensionsv1.WebhookClientConfig{
				Service:  &apiextensionsv1.ServiceReference{Namespace: m.Namespace, Name: m.ServiceName, Path: &path, Port: &port},
				CABundle: ca,
			},
			ConversionReviewVersions: versions,
		},
	}
}

func equalConversion(a, b *apiextensionsv1.CustomResourceConversion) bool {
	if a == nil || b == nil || a.Strategy != b.Strategy || a.Webhook == nil || b.Webhook == nil ||
		a.Webhook.ClientConfig == nil || b.Webhook.ClientConfig == nil ||
		a.Webhook.ClientConfig.Service == nil || b.Webhook.ClientConfig.Service == nil {
		return false
	}
	sa, sb := a.Webhook.ClientConfig.Service, b.Webhook.ClientConfig.Service
	return sa.Namespace == sb.Namespace && sa.Name == sb.Name && deref(sa.Path) == deref(sb.Path) &&
		derefPort(sa.Port) == derefPort(sb.Port) && bytes.Equal(a.Webhook.ClientConfig.CABundle, b.Webhook.ClientConfig.CABundle) &&
		slices.Equal(a.Webhook.ConversionReviewVersions, b.Webhook.ConversionReviewVersions)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefPort(p *int32) int32 {
	if p == nil {
		return webhookPort
	}
	return *p
}
