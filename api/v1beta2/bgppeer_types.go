package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamicASNMode lets a peer's ASN be learned from its OPEN message instead of
// being configured.
type DynamicASNMode string

const (
	// InternalASNMode accepts a peer whose ASN equals myASN (iBGP).
	InternalASNMode DynamicASNMode = "internal"
	// ExternalASNMode accepts a peer whose ASN differs from myASN (eBGP).
	ExternalASNMode DynamicASNMode = "external"
)

// BGPPeerSpec describes one BGP session that the speakers on the selected
// nodes open to a router.
type BGPPeerSpec struct {
	// MyASN is the AS number the speakers use on this session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`

	// ASN is the AS number expected from the peer. Set exactly one of
	// peerASN and dynamicASN.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	ASN uint32 `json:"peerASN,omitempty"`

	// LocalASN overrides myASN in the OPEN message sent to this peer, for
	// migrations where the router still expects an older AS number.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	LocalASN uint32 `json:"localASN,omitempty"`

	// DynamicASN accepts any peer ASN of the given kind instead of a fixed
	// peerASN: "internal" (same as myASN) or "external" (different).
	// +kubebuilder:validation:Enum=internal;external
	// +optional
	DynamicASN DynamicASNMode `json:"dynamicASN,omitempty"`

	// Address of the peer. Set exactly one of peerAddress and interface.
	// +optional
	Address string `json:"peerAddress,omitempty"`

	// Interface peers over the given host interface with BGP unnumbered
	// (IPv6 link-local), instead of a fixed peerAddress.
	// +optional
	Interface string `json:"interface,omitempty"`

	// SrcAddress is the local address the session is opened from.
	// +optional
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port of the peer.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16384
	// +kubebuilder:default:=179
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime proposed to the peer: how long without a message before the
	// session is declared down.
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime proposed to the peer: how often keepalives are sent.
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is how long to wait between connection attempts; whole
	// seconds between 1 and 65535.
	// +kubebuilder:validation:XValidation:message="connectTime must be between 1 and 65535 seconds",rule="duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535"
	// +kubebuilder:validation:XValidation:message="connectTime must be a whole number of seconds",rule="duration(self).getMilliseconds() % 1000 == 0"
	// +optional
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// RouterID overrides the BGP router ID (an IPv4 address) used on this session.
	// +optional
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors restricts the nodes that open this session. Empty means
	// every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Password for TCP MD5 authentication of the session, in clear text.
	// Prefer passwordSecret.
	// +optional
	Password string `json:"password,omitempty"`

	// PasswordSecret names a Secret of type kubernetes.io/basic-auth in the
	// IronLB namespace whose "password" key holds the TCP MD5 password.
	// Mutually exclusive with password.
	// +optional
	PasswordSecret corev1.SecretReference `json:"passwordSecret,omitempty"`

	// BFDProfile names the BFDProfile used to detect a dead session faster
	// than the hold time.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EnableGracefulRestart asks the peer to keep our routes while our
	// session restarts (RFC 4724). Fixed at creation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="EnableGracefulRestart cannot be changed after creation"
	EnableGracefulRestart bool `json:"enableGracefulRestart,omitempty"`

	// EBGPMultiHop allows an eBGP peer that is not directly connected.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// VRFName is the host VRF the session is opened from. Empty means the
	// default VRF.
	// +optional
	VRFName string `json:"vrf,omitempty"`

	// DisableMP sends IPv4 and IPv6 routes over sessions of their own family
	// only, instead of multiprotocol BGP on one session.
	// +optional
	// +kubebuilder:default:=false
	DisableMP bool `json:"disableMP,omitempty"`

	// DualStackAddressFamily negotiates both the IPv4 and IPv6 unicast
	// address families on this session.
	// +optional
	// +kubebuilder:default:=false
	DualStackAddressFamily bool `json:"dualStackAddressFamily,omitempty"`
}

// BGPPeerStatus is empty: session state is exported as metrics.
type BGPPeerStatus struct {
}

// BGPPeer is a router that the speakers open a BGP session to.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=string,JSONPath=`.spec.ebgpMultiHop`
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
