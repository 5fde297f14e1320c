// Package compat names every MetalLB-facing string IronLB reads or writes:
// annotations, event reasons and components, labels. They are interface
// facts users' manifests, dashboards and alerts depend on; keep them here so
// a change is one reviewable diff.
package compat

// Service annotations read, in the current spelling and MetalLB's older one.
const (
	AnnotationLoadBalancerIPs = "metallb.io/loadBalancerIPs"
	AnnotationAddressPool     = "metallb.io/address-pool"
	AnnotationAllowSharedIP   = "metallb.io/allow-shared-ip"

	// DeprecatedAnnotationPrefix starts MetalLB's old annotation names.
	DeprecatedAnnotationPrefix          = "metallb.universe.tf/"
	DeprecatedAnnotationLoadBalancerIPs = "metallb.universe.tf/loadBalancerIPs"
	DeprecatedAnnotationAddressPool     = "metallb.universe.tf/address-pool"
	DeprecatedAnnotationAllowSharedIP   = "metallb.universe.tf/allow-shared-ip"
)

// AnnotationIPAllocatedFromPool is written on a Service: the pool its IPs
// come from.
const AnnotationIPAllocatedFromPool = "metallb.io/ip-allocated-from-pool"

// Event reporting components, as `kubectl describe` shows them under FROM.
const (
	ControllerComponent = "metallb-controller"
	SpeakerComponent    = "metallb-speaker"
)

// Event reasons.
const (
	// ReasonIPAllocated (Normal): `Assigned IP ["172.20.255.200"]`.
	ReasonIPAllocated = "IPAllocated"
	// ReasonAllocationFailed (Warning): why no IP could be given.
	ReasonAllocationFailed = "AllocationFailed"
	// ReasonAdditionalAssignFailed (Normal): a PreferDualStack Service
	// holding one family cannot get the other from its pool.
	ReasonAdditionalAssignFailed = "AdditionalAssignFailed"
	// ReasonIPNotInPool (Warning): the Service's IP left every pool; it
	// keeps the IP until it is changed or deleted.
	ReasonIPNotInPool = "IPNotInPool"
	// ReasonInvalidConfiguration (Warning, on a configuration object): the
	// configuration was refused; the last valid one stays in force.
	ReasonInvalidConfiguration = "InvalidConfiguration"
	// ReasonDeprecatedAnnotation (Warning): the Service uses a
	// metallb.universe.tf/ annotation, one Event per annotation, when an
	// assignment is written: `Service uses deprecated annotation NAME`.
	ReasonDeprecatedAnnotation = "deprecatedAnnotation"
	// ReasonNodeAssigned (Normal, from the speaker):
	// `announcing from node "X" with protocol "layer2"` (or "bgp").
	ReasonNodeAssigned = "nodeAssigned"
	// ReasonAnnounceFailed (Warning, from the speaker): the node elected
	// for the Service has none of the interfaces its L2Advertisements
	// name, so nothing announces it.
	ReasonAnnounceFailed = "announceFailed"
	// ReasonBGPPeerRefused (Warning, on a BGPPeer, from the speaker): the
	// speaker keeps no session for the peer (its passwordSecret is
	// missing or invalid, it names a VRF); the note says why.
	ReasonBGPPeerRefused = "BGPPeerRefused"
	// ReasonBGPPeerNotFullyConfigured (Warning, on a BGPPeer, from the
	// speaker): the session runs, or will once it can, without something
	// the BGPPeer asks for (BFD's echo function, its routerID) or waits
	// for something (an unnumbered session's router); the note says which.
	ReasonBGPPeerNotFullyConfigured = "BGPPeerNotFullyConfigured"
	// ReasonBFDSessionDown (Warning, on a BGPPeer, from the speaker) and
	// ReasonBFDSessionUp (Normal): BFD took the peer's BGP session down
	// (held down until BFD is Up again), or let it up. IronLB's own:
	// MetalLB's FRR mode shows BFD only through vtysh and its metrics.
	ReasonBFDSessionDown = "BFDSessionDown"
	ReasonBFDSessionUp   = "BFDSessionUp"
)

// BGPPeerCRD is the one metallb.io CRD with two stored-object versions,
// converted by the controller's webhook.
const BGPPeerCRD = "bgppeers.metallb.io"

// NodeExcludeLabel marks nodes that must not announce load balancer IPs.
const NodeExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// Annotation returns the value of the current spelling of an annotation, or
// of the deprecated one when only that is set.
func Annotation(annotations map[string]string, current, deprecated string) string {
	if v, ok := annotations[current]; ok {
		return v
	}
	return annotations[deprecated]
}

// Labels on ServiceL2Status and ServiceBGPStatus objects, so users and
// speakers can select a Service's or a node's statuses.
const (
	LabelAnnounceNode     = "metallb.io/node"
	LabelServiceName      = "metallb.io/service-name"
	LabelServiceNamespace = "metallb.io/service-namespace"
)

// Speaker pod selector default (--ml-labels), MetalLB's.
const DefaultSpeakerLabels = "app=metallb,component=speaker"
