package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPAddressPoolSpec is the set of addresses IronLB may hand out, and to whom.
type IPAddressPoolSpec struct {
	// Addresses lists the ranges this pool owns. Each entry is a CIDR
	// ("192.168.10.0/24", "fc00:f853:ccd:e799::/124") or an inclusive range of
	// one family ("192.168.9.1-192.168.9.5"). All entries share the pool's settings.
	Addresses []string `json:"addresses"`

	// AutoAssign lets the controller pick addresses from this pool for Services
	// that did not ask for it by name or by IP. Set it to false to reserve the
	// pool for explicit requests.
	// +optional
	// +kubebuilder:default:=true
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips IPv4 addresses ending in .0 or .255, which some
	// old client stacks drop as network or broadcast addresses.
	// +optional
	// +kubebuilder:default:=false
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// ServiceAllocation restricts automatic allocation from this pool to some
	// namespaces and/or Services, and orders pools that match the same Service:
	// the lowest priority value wins; a pool without a priority is tried after
	// every pool that has one.
	// +optional
	ServiceAllocation *ServiceAllocation `json:"serviceAllocation,omitempty"`
}

// ServiceAllocation says which Services a pool serves automatically, and in
// which order matching pools are tried.
type ServiceAllocation struct {
	// Priority orders pools that match the same Service; lower is preferred.
	Priority int `json:"priority,omitempty"`
	// Namespaces lists namespaces, by name, whose Services may use the pool.
	Namespaces []string `json:"namespaces,omitempty"`
	// NamespaceSelectors selects namespaces, by label, whose Services may use the pool.
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`
	// ServiceSelectors selects Services, by label, that may use the pool.
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus counts the pool's addresses per family, as last seen by
// the controller.
type IPAddressPoolStatus struct {
	// AssignedIPv4 is how many IPv4 addresses of the pool are in use.
	AssignedIPv4 int64 `json:"assignedIPv4"`
	// AssignedIPv6 is how many IPv6 addresses of the pool are in use.
	AssignedIPv6 int64 `json:"assignedIPv6"`
	// AvailableIPv4 is how many IPv4 addresses of the pool are still free.
	AvailableIPv4 int64 `json:"availableIPv4"`
	// AvailableIPv6 is how many IPv6 addresses of the pool are still free
	// (saturated at the largest int64 for huge IPv6 ranges).
	AvailableIPv6 int64 `json:"availableIPv6"`
}

// IPAddressPool is a named set of addresses that the controller assigns to
// Services of type LoadBalancer.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="Avoid Buggy IPs",type=boolean,JSONPath=`.spec.avoidBuggyIPs`
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAddressPoolSpec   `json:"spec"`
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// IPAddressPoolList is a list of IPAddressPool.
//
// +kubebuilder:object:root=true
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}
