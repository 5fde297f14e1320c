package compat

import (
	"fmt"
	"net/netip"
	"strings"
)

// LoadBalancerIPs reads the IPs a Service asks for: the comma-separated
// metallb.io/loadBalancerIPs (or its deprecated spelling), else
// spec.loadBalancerIP, passed as specIP. An empty annotation is no request,
// as in MetalLB. An error names the annotation or field and the value; the
// family and pool checks are the allocator's.
func LoadBalancerIPs(annotations map[string]string, specIP string) ([]netip.Addr, error) {
	annotation := AnnotationLoadBalancerIPs
	raw := annotations[annotation]
	if raw == "" {
		annotation = DeprecatedAnnotationLoadBalancerIPs
		raw = annotations[annotation]
	}
	if raw != "" && specIP != "" {
		return nil, fmt.Errorf("both %s and spec.loadBalancerIP are set; use one", annotation)
	}
	if raw == "" {
		if specIP == "" {
			return nil, nil
		}
		ip, err := parseIP(specIP)
		if err != nil {
			return nil, fmt.Errorf("spec.loadBalancerIP %q: %w", specIP, err)
		}
		return []netip.Addr{ip}, nil
	}
	parts := strings.Split(raw, ",")
	if len(parts) > 2 {
		return nil, fmt.Errorf("%s %q: at most one IPv4 and one IPv6 address", annotation, raw)
	}
	ips := make([]netip.Addr, 0, len(parts))
	for _, s := range parts {
		ip, err := parseIP(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", annotation, raw, err)
		}
		ips = append(ips, ip)
	}
	return ips, nil
}

// parseIP parses one requested IP. A zone is refused: "fd00::5%eth0"
// would pass the pool check (netip compares the address first) and then
// be written to status.loadBalancer.ingress, which the API server refuses,
// on every reconcile (found by FuzzLoadBalancerIPs). An IPv4-mapped IPv6
// address is read as the IPv4 address it maps.
func parseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: a load balancer IP has no zone", s)
	}
	return ip.Unmap(), nil
}
