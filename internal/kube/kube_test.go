package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestIsOurs(t *testing.T) {
	mine, other := "ironlb", "example.com/other"
	lb := func(class *string) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: class}}
	}
	if !IsOurs(lb(nil), "") || IsOurs(lb(&other), "") || !IsOurs(lb(&mine), mine) || IsOurs(lb(nil), mine) {
		t.Error("class matching is wrong")
	}
	if IsOurs(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}, "") {
		t.Error("a NodePort Service is not ours")
	}
}

func TestIngressIPs(t *testing.T) {
	svc := &corev1.Service{Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
		{IP: "172.20.255.200"}, {Hostname: "lb.example.com"}, {IP: "::ffff:10.0.0.1"}, {IP: "bogus"},
	}}}}
	got := IngressIPs(svc)
	if len(got) != 2 || got[0].String() != "172.20.255.200" || got[1].String() != "10.0.0.1" {
		t.Errorf("IngressIPs = %v", got)
	}
}
