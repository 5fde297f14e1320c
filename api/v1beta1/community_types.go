package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommunityAlias gives a BGP community value a name.
type CommunityAlias struct {
	// Name used in place of the value in BGPAdvertisement communities.
	Name string `json:"name,omitempty"`

	// Value is a standard community ("65535:65282") or a large one
	// ("large:1:2:3").
	Value string `json:"value,omitempty"`
}

// CommunitySpec lists community aliases.
type CommunitySpec struct {
	Communities []CommunityAlias `json:"communities,omitempty"`
}

// CommunityStatus is empty.
type CommunityStatus struct {
}

// Community defines named BGP community values that BGPAdvertisements can
// refer to.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
type Community struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CommunitySpec   `json:"spec,omitempty"`
	Status CommunityStatus `json:"status,omitempty"`
}

// CommunityList is a list of Community.
//
// +kubebuilder:object:root=true
type CommunityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Community `json:"items"`
}
