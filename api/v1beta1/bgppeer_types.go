package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This is MetalLB's first BGPPeer version, still served so that older
// manifests apply. Objects are stored as v1beta2; the controller's webhook
// converts (bgppeer_conversion.go), as MetalLB's CRD asks.

// MatchExpression is a label selector requirement.
type MatchExpression struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	// +kubebuilder:validation:MinItems:=1
	Values []string `json:"values"`
}

// NodeSelector selects nodes by label; it has the JSON shape of a
// metav1.LabelSelector.
type NodeSelector struct {
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// +optional
	MatchExpressions []MatchExpression `json:"matchExpressions,omitempty"`
}

// BGPPeerSpec describes one BGP session; see v1beta2 for the meaning of each
// field.
type BGPPeerSpec struct {
	// MyASN is the AS number the speakers use on this session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`

	// ASN is the AS number expected from the peer.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	ASN uint32 `json:"peerASN"`

	// Address of the peer.
	Address string `json:"peerAddress"`

	// SrcAddress is the local address the session is opened from.
	// +optional
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port of the peer.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16384
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime proposed to the peer.
	// +optional
	HoldTime metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime proposed to the peer.
	// +optional
	KeepaliveTime metav1.Duration `json:"keepaliveTime,omitempty"`

	// RouterID overrides the BGP router ID used on this session.
	// +optional
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors restricts the nodes that open this session.
	// +optional
	NodeSelectors []NodeSelector `json:"nodeSelectors,omitempty"`

	// Password for TCP MD5 authentication of the session.
	// +optional
	Password string `json:"password,omitempty"`

	// BFDProfile names the BFDProfile used with this peer.
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EBGPMultiHop allows an eBGP peer that is not directly connected.
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`
}

// BGPPeerStatus is empty.
type BGPPeerStatus struct {
}

// BGPPeer (v1beta1) is a router that the speakers open a BGP session to.
// Deprecated: use metallb.io/v1beta2.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=string,JSONPath=`.spec.ebgpMultiHop`
// +kubebuilder:deprecatedversion:warning="metallb.io/v1beta1 BGPPeer is deprecated; use metallb.io/v1beta2"
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec   `json:"spec,omitempty"`
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeer.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}
