package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// L2AdvertisementSpec says which pools are announced on the local network with
// ARP (IPv4) and NDP (IPv6), from which nodes and on which interfaces.
type L2AdvertisementSpec struct {
	// IPAddressPools names the pools to announce. When neither this nor
	// ipAddressPoolSelectors selects a pool, every pool is announced.
	// +optional
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors selects pools to announce by label.
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors restricts which nodes may answer for the addresses.
	// Empty means every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Interfaces restricts the host interfaces the addresses are announced on.
	// Empty means every usable interface of the node.
	// +optional
	Interfaces []string `json:"interfaces,omitempty"`

	// ServiceSelectors restricts the Services announced by this advertisement.
	// Empty means every Service with an address from a selected pool.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`

	// PreferredNodeSelectors bias the choice of the announcing node towards
	// nodes matching the heavier preferences, among the nodes allowed by
	// nodeSelectors.
	// +optional
	PreferredNodeSelectors []PreferredNodeSelector `json:"preferredNodeSelectors,omitempty"`
}

// PreferredNodeSelector is a weighted node preference.
type PreferredNodeSelector struct {
	// Weight of this preference; a node collects the weights of every
	// preference it matches.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`

	// Preference selects the nodes this weight applies to.
	Preference metav1.LabelSelector `json:"preference"`
}

// L2AdvertisementStatus is empty: the announcing node of each Service is
// reported in ServiceL2Status objects.
type L2AdvertisementStatus struct {
}

// L2Advertisement announces the addresses of some pools in layer-2 mode: one
// node per address answers ARP and NDP for it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   L2AdvertisementSpec   `json:"spec,omitempty"`
	Status L2AdvertisementStatus `json:"status,omitempty"`
}

// L2AdvertisementList is a list of L2Advertisement.
//
// +kubebuilder:object:root=true
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}
