package controllers

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/ipam"
)

func TestServiceView(t *testing.T) {
	local := corev1.ServiceExternalTrafficPolicyLocal
	require := corev1.IPFamilyPolicyRequireDualStack
	tests := []struct {
		name    string
		svc     corev1.Service
		check   func(*testing.T, ipam.Service)
		wantErr string
	}{
		{name: "annotations in the current spelling", svc: corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			"metallb.io/loadBalancerIPs": "172.20.255.210, fd00::5", "metallb.io/address-pool": "p", "metallb.io/allow-shared-ip": "k",
		}}}, check: func(t *testing.T, v ipam.Service) {
			if len(v.RequestedIPs) != 2 || v.RequestedIPs[1] != netip.MustParseAddr("fd00::5") || v.RequestedPool != "p" || v.SharingKey != "k" {
				t.Errorf("view %+v", v)
			}
		}},
		{name: "the deprecated spelling", svc: corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			"metallb.universe.tf/loadBalancerIPs": "10.0.0.1", "metallb.universe.tf/address-pool": "old", "metallb.universe.tf/allow-shared-ip": "legacy",
		}}}, check: func(t *testing.T, v ipam.Service) {
			if len(v.RequestedIPs) != 1 || v.RequestedPool != "old" || v.SharingKey != "legacy" {
				t.Errorf("view %+v", v)
			}
		}},
		{name: "spec.loadBalancerIP", svc: corev1.Service{Spec: corev1.ServiceSpec{LoadBalancerIP: "10.0.0.9"}},
			check: func(t *testing.T, v ipam.Service) {
				if len(v.RequestedIPs) != 1 || v.RequestedIPs[0].String() != "10.0.0.9" {
					t.Errorf("view %+v", v)
				}
			}},
		{name: "both annotation and spec.loadBalancerIP", svc: corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"metallb.io/loadBalancerIPs": "10.0.0.1"}},
			Spec:       corev1.ServiceSpec{LoadBalancerIP: "10.0.0.2"}}, wantErr: "both metallb.io/loadBalancerIPs and spec.loadBalancerIP"},
		{name: "unparsable annotation", svc: corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"metallb.io/loadBalancerIPs": "10.0.0.1,ten"}}},
			wantErr: `"ten" is not an IP address`},
		{name: "unparsable spec.loadBalancerIP", svc: corev1.Service{Spec: corev1.ServiceSpec{LoadBalancerIP: "x"}}, wantErr: "spec.loadBalancerIP"},
		{name: "dual-stack and ports", svc: corev1.Service{Spec: corev1.ServiceSpec{
			IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}, IPFamilyPolicy: &require,
			Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53}},
		}}, check: func(t *testing.T, v ipam.Service) {
			if v.Stack != ipam.RequireDualStack || len(v.Families) != 2 || v.Families[0] != ipam.IPv6 {
				t.Errorf("families %v stack %v", v.Families, v.Stack)
			}
			if len(v.Ports) != 2 || v.Ports[0].String() != "53/TCP" || v.Ports[1].String() != "53/UDP" {
				t.Errorf("ports %v (protocol defaults to TCP, sorted)", v.Ports)
			}
		}},
		{name: "traffic policy Local keys the backends by selector", svc: corev1.Service{Spec: corev1.ServiceSpec{
			ExternalTrafficPolicy: local, Selector: map[string]string{"app": "web"}}},
			check: func(t *testing.T, v ipam.Service) {
				if !strings.Contains(v.BackendKey, "app=web") {
					t.Errorf("backend key %q", v.BackendKey)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.svc.Namespace, tt.svc.Name = "ns", "svc"
			v, err := serviceView(&tt.svc, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Key != "ns/svc" {
				t.Errorf("key %q", v.Key)
			}
			tt.check(t, v)
		})
	}
}

func TestQuotedIPsMatchesMetalLBEvents(t *testing.T) {
	got := quotedIPs([]netip.Addr{netip.MustParseAddr("172.20.255.200"), netip.MustParseAddr("fd00::1")})
	if got != `["172.20.255.200" "fd00::1"]` {
		t.Errorf("quotedIPs = %s", got)
	}
}
