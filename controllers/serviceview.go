package controllers

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/ipam"
)

// serviceKey is "namespace/name", how Services are named in messages.
func serviceKey(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// serviceView turns a Service into what allocation needs. An error means
// the Service's own request is malformed (an annotation that does not
// parse); it names the annotation or field.
func serviceView(svc *corev1.Service, namespaceLabels map[string]string) (ipam.Service, error) {
	v := ipam.Service{
		Key:             serviceKey(svc),
		Namespace:       svc.Namespace,
		NamespaceLabels: namespaceLabels,
		Labels:          svc.Labels,
		RequestedPool:   compat.Annotation(svc.Annotations, compat.AnnotationAddressPool, compat.DeprecatedAnnotationAddressPool),
		SharingKey:      compat.Annotation(svc.Annotations, compat.AnnotationAllowSharedIP, compat.DeprecatedAnnotationAllowSharedIP),
	}
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			v.Families = append(v.Families, ipam.IPv6)
		} else {
			v.Families = append(v.Families, ipam.IPv4)
		}
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicyPreferDualStack:
			v.Stack = ipam.PreferDualStack
		case corev1.IPFamilyPolicyRequireDualStack:
			v.Stack = ipam.RequireDualStack
		}
	}
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		v.Ports = append(v.Ports, ipam.Port{Protocol: ipam.Protocol(proto), Port: p.Port})
	}
	slices.SortFunc(v.Ports, func(a, b ipam.Port) int {
		return strings.Compare(a.String(), b.String())
	})
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		// Any non-empty key for a selector-less Service keeps it from
		// sharing with Services that do have backends.
		v.BackendKey = "selector:" + labels.SelectorFromSet(svc.Spec.Selector).String()
	}
	ips, err := compat.LoadBalancerIPs(svc.Annotations, svc.Spec.LoadBalancerIP)
	if err != nil {
		return v, err
	}
	v.RequestedIPs = ips
	return v, nil
}

// ingressFor renders IPs as status.loadBalancer.ingress entries.
func ingressFor(ips []netip.Addr) []corev1.LoadBalancerIngress {
	vip := corev1.LoadBalancerIPModeVIP
	out := make([]corev1.LoadBalancerIngress, len(ips))
	for i, ip := range ips {
		out[i] = corev1.LoadBalancerIngress{IP: ip.String(), IPMode: &vip}
	}
	return out
}

// quotedIPs renders IPs like MetalLB's events: ["172.20.255.200"].
func quotedIPs(ips []netip.Addr) string {
	q := make([]string, len(ips))
	for i, ip := range ips {
		q[i] = fmt.Sprintf("%q", ip.String())
	}
	return "[" + strings.Join(q, " ") + "]"
}
