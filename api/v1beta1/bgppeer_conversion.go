package v1beta1

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta2"
)

// BGPPeers are stored as v1beta2; a v1beta1 client reads and writes them
// through the conversion webhook, as with MetalLB (whose CRD asks for one),
// with these two functions.
//
// MetalLB drops the fields v1beta1 lacks when it converts down, so a v1beta1
// client that updates a peer (kubectl edit, an old GitOps manifest) silently
// erases its vrf, passwordSecret or enableGracefulRestart (and the last one
// is immutable, so the update then fails). IronLB carries them across in
// the annotation below and puts them back on the way up.

// V1beta2FieldsAnnotation holds, on a BGPPeer read as v1beta1, the spec
// fields only v1beta2 has, as JSON; converting back to v1beta2 restores
// them and drops the annotation.
const V1beta2FieldsAnnotation = "ironlb.io/v1beta2-only-fields"

// v1beta2Only is the part of a v1beta2 spec v1beta1 cannot express.
// +kubebuilder:object:generate=false
type v1beta2Only struct {
	LocalASN               uint32                  `json:"localASN,omitempty"`
	DynamicASN             v1beta2.DynamicASNMode  `json:"dynamicASN,omitempty"`
	Interface              string                  `json:"interface,omitempty"`
	ConnectTime            *metav1.Duration        `json:"connectTime,omitempty"`
	PasswordSecret         *corev1.SecretReference `json:"passwordSecret,omitempty"`
	EnableGracefulRestart  bool                    `json:"enableGracefulRestart,omitempty"`
	VRFName                string                  `json:"vrf,omitempty"`
	DisableMP              bool                    `json:"disableMP,omitempty"`
	DualStackAddressFamily bool                    `json:"dualStackAddressFamily,omitempty"`
}

func (o v1beta2Only) empty() bool { return o == (v1beta2Only{}) }

// ConvertToV1beta2 converts a v1beta1 BGPPeer to the storage version.
func ConvertToV1beta2(src *BGPPeer, dst *v1beta2.BGPPeer) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	s := src.Spec
	dst.Spec = v1beta2.BGPPeerSpec{
		MyASN: s.MyASN, ASN: s.ASN, Address: s.Address, SrcAddress: s.SrcAddress, Port: s.Port,
		HoldTime: durationPtr(s.HoldTime), KeepaliveTime: durationPtr(s.KeepaliveTime),
		RouterID: s.RouterID, Password: s.Password, BFDProfile: s.BFDProfile, EBGPMultiHop: s.EBGPMultiHop,
	}
	for _, sel := range s.NodeSelectors {
		ls := metav1.LabelSelector{MatchLabels: sel.MatchLabels}
		for _, e := range sel.MatchExpressions {
			ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: e.Values})
		}
		dst.Spec.NodeSelectors = append(dst.Spec.NodeSelectors, ls)
	}
	raw, ok := dst.Annotations[V1beta2FieldsAnnotation]
	if !ok {
		return nil
	}
	delete(dst.Annotations, V1beta2FieldsAnnotation)
	if len(dst.Annotations) == 0 {
		dst.Annotations = nil
	}
	var kept v1beta2Only
	if err := json.Unmarshal([]byte(raw), &kept); err != nil {
		return fmt.Errorf("BGPPeer %s/%s: annotation %s is not valid JSON: %w", src.Namespace, src.Name, V1beta2FieldsAnnotation, err)
	}
	d := &dst.Spec
	d.LocalASN, d.DynamicASN, d.Interface, d.ConnectTime = kept.LocalASN, kept.DynamicASN, kept.Interface, kept.ConnectTime
	if kept.PasswordSecret != nil {
		d.PasswordSecret = *kept.PasswordSecret
	}
	d.EnableGracefulRestart, d.VRFName, d.DisableMP, d.DualStackAddressFamily = kept.EnableGracefulRestart, kept.VRFName, kept.DisableMP, kept.DualStackAddressFamily
	return nil
}

// ConvertFromV1beta2 converts a stored BGPPeer to v1beta1.
func ConvertFromV1beta2(src *v1beta2.BGPPeer, dst *BGPPeer) error {
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	s := src.Spec
	dst.Spec = BGPPeerSpec{
		MyASN: s.MyASN, ASN: s.ASN, Address: s.Address, SrcAddress: s.SrcAddress, Port: s.Port,
		RouterID: s.RouterID, Password: s.Password, BFDProfile: s.BFDProfile, EBGPMultiHop: s.EBGPMultiHop,
	}
	if s.HoldTime != nil {
		dst.Spec.HoldTime = *s.HoldTime
	}
	if s.KeepaliveTime != nil {
		dst.Spec.KeepaliveTime = *s.KeepaliveTime
	}
	for _, ls := range s.NodeSelectors {
		sel := NodeSelector{MatchLabels: ls.MatchLabels}
		for _, e := range ls.MatchExpressions {
			sel.MatchExpressions = append(sel.MatchExpressions, MatchExpression{Key: e.Key, Operator: string(e.Operator), Values: e.Values})
		}
		dst.Spec.NodeSelectors = append(dst.Spec.NodeSelectors, sel)
	}
	kept := v1beta2Only{
		LocalASN: s.LocalASN, DynamicASN: s.DynamicASN, Interface: s.Interface, ConnectTime: s.ConnectTime,
		EnableGracefulRestart: s.EnableGracefulRestart, VRFName: s.VRFName, DisableMP: s.DisableMP,
		DualStackAddressFamily: s.DualStackAddressFamily,
	}
	if s.PasswordSecret != (corev1.SecretReference{}) {
		ref := s.PasswordSecret
		kept.PasswordSecret = &ref
	}
	if kept.empty() {
		return nil
	}
	raw, err := json.Marshal(kept)
	if err != nil {
		return fmt.Errorf("BGPPeer %s/%s: keeping its v1beta2 fields: %w", src.Namespace, src.Name, err)
	}
	if dst.Annotations == nil {
		dst.Annotations = map[string]string{}
	}
	dst.Annotations[V1beta2FieldsAnnotation] = string(raw)
	return nil
}

// durationPtr maps v1beta1's zero duration (the field was not given) to
// v1beta2's unset one, so the default applies as it would have in v1beta1.
func durationPtr(d metav1.Duration) *metav1.Duration {
	if d.Duration == 0 {
		return nil
	}
	return &d
}
