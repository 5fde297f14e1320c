package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPAdvertisementSpec says how the addresses of some pools are advertised to
// BGP peers: as which prefixes, with which attributes, from which nodes, to
// which peers.
//
// +kubebuilder:validation:XValidation:rule="!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || ((!has(self.aggregationLength) || self.aggregationLength == 32) && (!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))",message="serviceSelectors needs the default aggregationLength (32) and aggregationLengthV6 (128): an aggregated route cannot leave Services out"
type BGPAdvertisementSpec struct {
	// AggregationLength is the prefix length IPv4 addresses are advertised
	// with; shorter than 32 rolls several Service addresses into one route.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default:=32
	// +optional
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the prefix length IPv6 addresses are advertised
	// with; shorter than 128 rolls several Service addresses into one route.
	// +kubebuilder:default:=128
	// +optional
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// LocalPref is the LOCAL_PREF attribute sent with the routes (iBGP
	// sessions only); routers prefer the path with the higher value.
	// +optional
	LocalPref uint32 `json:"localPref,omitempty"`

	// Communities attached to the routes: standard ("65535:65282"), large
	// ("large:1:2:3") or the name of an alias from a Community object.
	// +optional
	Communities []string `json:"communities,omitempty"`

	// IPAddressPools names the pools to advertise. When neither this nor
	// ipAddressPoolSelectors selects a pool, every pool is advertised.
	// +optional
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors selects pools to advertise by label.
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors restricts which nodes advertise themselves as next hops.
	// Empty means every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Peers names the BGPPeers that receive these routes. Empty means all.
	// +optional
	Peers []string `json:"peers,omitempty"`

	// ServiceSelectors restricts the Services advertised by this
	// advertisement. Only allowed with the default aggregation lengths, since
	// an aggregate cannot leave some Services out.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// BGPAdvertisementStatus is empty: what each node advertises is reported in
// ServiceBGPStatus objects.
type BGPAdvertisementStatus struct {
}

// BGPAdvertisement announces the addresses of some pools to BGP peers.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPAdvertisementSpec   `json:"spec,omitempty"`
	Status BGPAdvertisementStatus `json:"status,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisement.
//
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}
