package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigurationResult sums up whether a component runs on a valid
// configuration.
// +kubebuilder:validation:Enum=Valid;Invalid;Unknown
type ConfigurationResult string

const (
	// ConfigurationResultValid: the component's last load of the
	// configuration succeeded.
	ConfigurationResultValid ConfigurationResult = "Valid"
	// ConfigurationResultInvalid: the newest configuration has errors;
	// the component runs on its last valid one.
	ConfigurationResultInvalid ConfigurationResult = "Invalid"
	// ConfigurationResultUnknown: the component has not reported yet.
	ConfigurationResultUnknown ConfigurationResult = "Unknown"
)

// ConfigurationStateStatus is what one component (the controller, or the
// speaker of one node) found loading the metallb.io configuration.
type ConfigurationStateStatus struct {
	// Result sums the conditions up.
	// +optional
	Result ConfigurationResult `json:"result,omitempty"`

	// ErrorSummary joins the messages of the failing conditions; empty
	// when Result is Valid.
	// +optional
	ErrorSummary string `json:"errorSummary,omitempty"`

	// Conditions, one per reconciler of the component that loads the
	// configuration.
	// +optional
	// +patchMergeKey=type
	// +patchStrategy=merge
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// ConfigurationState reports whether a component runs on a valid
// configuration (MetalLB 0.15.3 and later have it): one named "controller",
// labelled metallb.io/component-type=controller, and one per speaker,
// "speaker-NODE", labelled metallb.io/component-type=speaker and
// metallb.io/node-name=NODE. It has no spec; each is owned by its
// component's pod.
//
// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.result`
// +kubebuilder:printcolumn:name="ErrorSummary",type=string,JSONPath=`.status.errorSummary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConfigurationState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status ConfigurationStateStatus `json:"status,omitempty"`
}

// ConfigurationStateList is a list of ConfigurationState.
//
// +kubebuilder:object:root=true
type ConfigurationStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []ConfigurationState `json:"items"`
}
