package watch

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/config"
)

// secretPasswordKey is the key of a kubernetes.io/basic-auth Secret that
// holds a BGPPeer's password, as MetalLB reads it.
const secretPasswordKey = corev1.BasicAuthPasswordKey

// resolvePeers returns cfg with each BGPPeer's passwordSecret read into
// its Password. A peer whose Secret is missing, of another type or has no
// password is left out, with a log line and a Warning Event on the
// BGPPeer: a session without its password would never come up, and the
// other peers keep running. Secrets are read only from the release
// namespace. A peer naming a VRF is reported the same way (the agent
// keeps no session for it). An error reading a Secret other than its
// absence is returned: the reconcile is retried.
func (r *Config) resolvePeers(ctx context.Context, cfg *config.Config) (*config.Config, error) {
	out := *cfg
	out.Peers = make(map[string]*config.Peer, len(cfg.Peers))
	for _, name := range slices.Sorted(maps.Keys(cfg.Peers)) {
		p := cfg.Peers[name]
		if p.VRF != "" {
			r.refusePeer(ctx, name, fmt.Sprintf("vrf is not supported: BGPPeer %q (vrf %q) gets no session", name, p.VRF),
				"vrf", p.VRF)
		}
		if p.PasswordSecret == "" {
			out.Peers[name] = p
			continue
		}
		password, problem, err := r.secretPassword(ctx, p.PasswordSecret)
		if err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s of BGPPeer %s: %w", r.Namespace, p.PasswordSecret, name, err)
		}
		if problem != "" {
			r.refusePeer(ctx, name, fmt.Sprintf("BGPPeer %q gets no session: its passwordSecret %q %s", name, p.PasswordSecret, problem),
				"secret", p.PasswordSecret)
			continue
		}
		resolved := *p
		resolved.Password = password
		out.Peers[name] = &resolved
	}
	return &out, nil
}

// secretPassword reads the password of a basic-auth Secret, or says what
// is wrong with the Secret.
func (r *Config) secretPassword(ctx context.Context, name string) (password, problem string, err error) {
	var s corev1.Secret
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Sprintf("does not exist in namespace %s", r.Namespace), nil
		}
		return "", "", err
	}
	if s.Type != corev1.SecretTypeBasicAuth {
		return "", fmt.Sprintf("is of type %q, want %q", s.Type, corev1.SecretTypeBasicAuth), nil
	}
	pw, ok := s.Data[secretPasswordKey]
	if !ok {
		return "", fmt.Sprintf("has no key %q", secretPasswordKey), nil
	}
	return string(pw), "", nil
}

// refusePeer logs why a BGPPeer gets no session and records it on the
// BGPPeer, so `kubectl describe bgppeer` shows it.
func (r *Config) refusePeer(ctx context.Context, peer, why string, kv ...any) {
	r.Log.Info("BGP peer left out", append([]any{"peer", peer, "reason", why}, kv...)...)
	if r.Recorder == nil {
		return
	}
	var obj v1beta2.BGPPeer
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: peer}, &obj); err != nil {
		r.Log.Info("cannot record the Event on the BGPPeer", "peer", peer, "reason", err.Error())
		return
	}
	r.Recorder.Eventf(&obj, nil, corev1.EventTypeWarning, compat.ReasonBGPPeerRefused, "Configure", "%s", why)
}
