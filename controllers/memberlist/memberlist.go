// Package memberlist creates the Secret whose key encrypts the speakers'
// memberlist traffic, once, at run time, as MetalLB's controller does. A
// key rendered by the chart would change with every `helm template`, and
// speakers restarted after a GitOps re-render could no longer join the
// others; a key made in the cluster and never rewritten cannot drift.
package memberlist

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretKeyName is the Secret's data key the speakers read, MetalLB's.
const SecretKeyName = "secretkey"

// keyBytes is MetalLB's key size: 128 random bits.
const keyBytes = 16

// EnsureSecret creates namespace/name holding a fresh random key unless it
// exists; an existing Secret is never changed, whoever made it (MetalLB's
// controller, an earlier IronLB, or the user). The Secret is owned by the
// controller's Deployment so that uninstalling removes it.
func EnsureSecret(ctx context.Context, c client.Client, namespace, name, deployment string, log logr.Logger) error {
	var existing corev1.Secret
	err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &existing)
	switch {
	case err == nil:
		if len(existing.Data[SecretKeyName]) == 0 {
			return fmt.Errorf("memberlist Secret %s/%s exists but has no %q key: the speakers cannot start; delete it to have a new one made, or add the key", namespace, name, SecretKeyName)
		}
		log.V(1).Info("memberlist Secret exists; keeping it", "secret", namespace+"/"+name)
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("reading memberlist Secret %s/%s: %w", namespace, name, err)
	}
	var owner appsv1.Deployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: deployment}, &owner); err != nil {
		return fmt.Errorf("reading Deployment %s/%s, the owner of the memberlist Secret (--deployment): %w", namespace, deployment, err)
	}
	secret, err := NewSecret(namespace, name, &owner)
	if err != nil {
		return err
	}
	if err := c.Create(ctx, secret); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Another replica won the race; its key stands.
			return nil
		}
		return fmt.Errorf("creating memberlist Secret %s/%s: %w", namespace, name, err)
	}
	log.Info("created memberlist Secret", "secret", namespace+"/"+name, "owner", "Deployment/"+deployment)
	return nil
}

// NewSecret returns the Secret with a fresh key, in MetalLB's format: 16
// random bytes, base64 without padding.
func NewSecret(namespace, name string, owner *appsv1.Deployment) (*corev1.Secret, error) {
	raw := make([]byte, keyBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generating the memberlist key: %w", err)
	}
	key := make([]byte, base64.RawStdEncoding.EncodedLen(len(raw)))
	base64.RawStdEncoding.Encode(key, raw)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      name,
			Labels:    map[string]string{"app.kubernetes.io/component": "speaker", "app.kubernetes.io/managed-by": "ironlb-controller"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: owner.Name, UID: owner.UID,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{SecretKeyName: key},
	}, nil
}
