package v1beta1

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta2"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestBGPPeerConversionRoundTrips(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "r1", Namespace: "metallb-system", Labels: map[string]string{"a": "b"}}
	selector := metav1.LabelSelector{MatchLabels: map[string]string{"rack": "r1"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}
	tests := []struct {
		name string
		hub  v1beta2.BGPPeer
	}{
		{name: "fields both versions have", hub: v1beta2.BGPPeer{ObjectMeta: meta, Spec: v1beta2.BGPPeerSpec{
			MyASN: 64512, ASN: 64513, Address: "192.0.2.1", SrcAddress: "192.0.2.10", Port: 1179,
			HoldTime: dur(90 * time.Second), KeepaliveTime: dur(30 * time.Second), RouterID: "10.0.0.1",
			NodeSelectors: []metav1.LabelSelector{selector}, Password: "pw", BFDProfile: "fast", EBGPMultiHop: true}}},
		{name: "unset timers stay unset", hub: v1beta2.BGPPeer{ObjectMeta: meta, Spec: v1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, Address: "fd00::1"}}},
		{name: "v1beta2-only fields survive a v1beta1 reader", hub: v1beta2.BGPPeer{ObjectMeta: meta, Spec: v1beta2.BGPPeerSpec{
			MyASN: 64512, LocalASN: 64600, DynamicASN: v1beta2.ExternalASNMode, Interface: "eth1", ConnectTime: dur(5 * time.Second),
			PasswordSecret: corev1.SecretReference{Name: "bgp-pw", Namespace: "metallb-system"}, EnableGracefulRestart: true,
			VRFName: "red", DisableMP: true, DualStackAddressFamily: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var spoke BGPPeer
			if err := ConvertFromV1beta2(&tt.hub, &spoke); err != nil {
				t.Fatal(err)
			}
			var back v1beta2.BGPPeer
			if err := ConvertToV1beta2(&spoke, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.hub, back); diff != "" {
				t.Errorf("v1beta2 → v1beta1 → v1beta2 changed the peer (-want +got):\n%s", diff)
			}
			var again BGPPeer
			if err := ConvertFromV1beta2(&back, &again); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(spoke, again); diff != "" {
				t.Errorf("v1beta1 → v1beta2 → v1beta1 changed the peer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBGPPeerConversionToV1beta1(t *testing.T) {
	hub := v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "r1"}, Spec: v1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, Address: "192.0.2.1", VRFName: "red"}}
	var spoke BGPPeer
	if err := ConvertFromV1beta2(&hub, &spoke); err != nil {
		t.Fatal(err)
	}
	if got := spoke.Annotations[V1beta2FieldsAnnotation]; got != `{"vrf":"red"}` {
		t.Errorf("annotation %q, want the vrf kept as JSON", got)
	}
	if hub.Annotations != nil {
		t.Error("converting changed the source's annotations")
	}

	plain := v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "r2"}, Spec: v1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, Address: "192.0.2.2"}}
	if err := ConvertFromV1beta2(&plain, &spoke); err != nil {
		t.Fatal(err)
	}
	if _, ok := spoke.Annotations[V1beta2FieldsAnnotation]; ok {
		t.Error("a peer with nothing v1beta1 lacks carries the annotation")
	}

	broken := BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "r3", Annotations: map[string]string{V1beta2FieldsAnnotation: "{"}}}
	var out v1beta2.BGPPeer
	if err := ConvertToV1beta2(&broken, &out); err == nil {
		t.Error("a malformed annotation converted without an error")
	}
}
