package ipam

import (
	"fmt"
	"net/netip"
	"slices"
)

// Labels are an object's labels.
type Labels map[string]string

// Selector matches labels; the controller adapts Kubernetes label selectors
// to it, so this package needs none of Kubernetes.
type Selector interface {
	Matches(Labels) bool
}

// Protocol of a Service port.
type Protocol string

// Port is one port of a Service, the unit of sharing conflicts.
type Port struct {
	Protocol Protocol
	Port     int32
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// Stack is the Service's dual-stack policy (spec.ipFamilyPolicy).
type Stack uint8

const (
	// SingleStack wants one IP of the Service's first family.
	SingleStack Stack = iota
	// PreferDualStack wants one IP per family when a pool can give both,
	// otherwise one of the first family.
	PreferDualStack
	// RequireDualStack wants one IP per family, from one pool, or none.
	RequireDualStack
)

// Service is what allocation needs to know about a Service.
type Service struct {
	// Key is "namespace/name"; it names the Service in errors.
	Key       string
	Namespace string
	// NamespaceLabels are the labels of the Service's namespace, for
	// serviceAllocation.namespaceSelectors.
	NamespaceLabels Labels
	Labels          Labels

	// Families in the Service's order (spec.ipFamilies); the first is primary.
	Families []Family
	Stack    Stack

	// RequestedIPs pins the IPs (metallb.io/loadBalancerIPs or
	// spec.loadBalancerIP); RequestedPool pins the pool (metallb.io/address-pool).
	RequestedIPs  []netip.Addr
	RequestedPool string

	// SharingKey is metallb.io/allow-shared-ip: Services with the same key
	// may share an IP when their ports do not collide.
	SharingKey string
	Ports      []Port
	// BackendKey identifies the Service's backends when its traffic policy
	// is Local (its selector, canonically); empty for Cluster. Services
	// sharing an IP must have equal backend keys, since one node announces
	// the IP for all of them.
	BackendKey string
}

// wantFamilies returns the families to allocate, the primary first.
func (s *Service) wantFamilies() []Family {
	fams := s.Families
	if len(fams) == 0 {
		fams = []Family{IPv4}
	}
	if s.Stack == SingleStack {
		return fams[:1]
	}
	return fams
}

// canShareWith says why svc cannot share an IP with other, or "" if it can.
func (s *Service) canShareWith(other *Service) string {
	switch {
	case s.SharingKey == "" || other.SharingKey == "":
		return "it does not allow sharing (no metallb.io/allow-shared-ip)"
	case s.SharingKey != other.SharingKey:
		return fmt.Sprintf("its sharing key %q differs", other.SharingKey)
	case s.BackendKey != other.BackendKey:
		return "externalTrafficPolicy Local needs both Services to select the same pods"
	}
	for _, p := range s.Ports {
		if slices.Contains(other.Ports, p) {
			return fmt.Sprintf("both use port %s", p)
		}
	}
	return ""
}
