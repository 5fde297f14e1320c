package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceL2StatusStatus says which node announces a Service in layer-2 mode,
// and on which interfaces. The node and Service never change for one object:
// a move to another node is a new object.
type ServiceL2StatusStatus struct {
	// Node is the name of the node that answers ARP/NDP for the Service.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	Node string `json:"node,omitempty"`
	// ServiceName is the name of the announced Service.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	ServiceName string `json:"serviceName,omitempty"`
	// ServiceNamespace is the namespace of the announced Service.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	ServiceNamespace string `json:"serviceNamespace,omitempty"`
	// Interfaces are the node's interfaces the Service is announced on.
	Interfaces []InterfaceInfo `json:"interfaces,omitempty"`
}

// InterfaceInfo names one host interface.
type InterfaceInfo struct {
	// Name of the interface, as the node's kernel calls it.
	Name string `json:"name,omitempty"`
}

// ServiceL2StatusSpec is empty: the object only reports.
type ServiceL2StatusSpec struct {
}

// ServiceL2Status reports that one node announces one Service in layer-2
// mode. The speaker of that node writes it and deletes it when it stops.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Allocated Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`
type ServiceL2Status struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceL2StatusSpec   `json:"spec,omitempty"`
	Status ServiceL2StatusStatus `json:"status,omitempty"`
}

// ServiceL2StatusList is a list of ServiceL2Status.
//
// +kubebuilder:object:root=true
type ServiceL2StatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceL2Status `json:"items"`
}
