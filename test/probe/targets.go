package probe

import (
	"context"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ServiceTargets lists every LoadBalancer VIP of the cluster, with the
// Service's first port for HTTP: a client probing whatever is exposed.
func ServiceTargets(cs kubernetes.Interface) func(context.Context) ([]Target, error) {
	return func(ctx context.Context) ([]Target, error) {
		svcs, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		var out []Target
		for _, s := range svcs.Items {
			if s.Spec.Type != corev1.ServiceTypeLoadBalancer || len(s.Spec.Ports) == 0 {
				continue
			}
			for _, in := range s.Status.LoadBalancer.Ingress {
				if ip, err := netip.ParseAddr(in.IP); err == nil {
					out = append(out, Target{Service: s.Namespace + "/" + s.Name, IP: ip, Port: uint16(s.Spec.Ports[0].Port)})
				}
			}
		}
		return out, nil
	}
}
