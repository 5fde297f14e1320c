// Package kube reads what the controller, the webhook and the speaker all
// read the same way: the configuration objects of IronLB's namespace, and
// whether a Service is one IronLB handles and which IPs it has.
package kube

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
)

// ListConfig reads every configuration object of the namespace.
func ListConfig(ctx context.Context, c client.Reader, namespace string) (config.Resources, error) {
	var (
		res   config.Resources
		pools v1beta1.IPAddressPoolList
		l2s   v1beta1.L2AdvertisementList
		bgps  v1beta1.BGPAdvertisementList
		peers v1beta2.BGPPeerList
		comms v1beta1.CommunityList
		bfds  v1beta1.BFDProfileList
	)
	for _, l := range []client.ObjectList{&pools, &l2s, &bgps, &peers, &comms, &bfds} {
		if err := c.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return res, fmt.Errorf("listing the configuration of namespace %s: %w", namespace, err)
		}
	}
	res.Pools, res.L2Advertisements, res.BGPAdvertisements = pools.Items, l2s.Items, bgps.Items
	res.Peers, res.Communities, res.BFDProfiles = peers.Items, comms.Items, bfds.Items
	return res, nil
}

// ConfigObjects are empty objects of every configuration kind, for watches.
func ConfigObjects() []client.Object {
	return []client.Object{&v1beta1.IPAddressPool{}, &v1beta1.L2Advertisement{}, &v1beta1.BGPAdvertisement{},
		&v1beta2.BGPPeer{}, &v1beta1.Community{}, &v1beta1.BFDProfile{}}
}

// ServiceKey parses "namespace/name", the way Services are keyed in
// messages and in the allocator.
func ServiceKey(key string) types.NamespacedName {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return types.NamespacedName{Name: key}
	}
	return types.NamespacedName{Namespace: ns, Name: name}
}

// IsOurs reports whether IronLB handles the Service: a LoadBalancer of our
// class (no class when lbClass is empty).
func IsOurs(svc *corev1.Service, lbClass string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass == nil {
		return lbClass == ""
	}
	return *svc.Spec.LoadBalancerClass == lbClass
}

// IngressIPs returns the IPs of the Service's status, in order; hostnames
// and unparsable entries are ignored.
func IngressIPs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}
