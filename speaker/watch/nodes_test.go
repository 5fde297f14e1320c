package watch

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeView(t *testing.T) {
	const exclude = "node.kubernetes.io/exclude-from-external-load-balancers"
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	noNetwork := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue}
	tests := []struct {
		name         string
		labels       map[string]string
		conditions   []corev1.NodeCondition
		ignore       bool
		wantExcluded bool
		wantReady    bool
	}{
		{name: "plain worker", conditions: []corev1.NodeCondition{ready}, wantReady: true},
		{name: "kubeadm control plane (empty label value)", labels: map[string]string{exclude: ""}, conditions: []corev1.NodeCondition{ready}, wantExcluded: true, wantReady: true},
		{name: "label value does not matter", labels: map[string]string{exclude: "false"}, wantExcluded: true},
		{name: "--ignore-exclude-lb lets a labelled node announce", labels: map[string]string{exclude: ""}, ignore: true},
		{name: "--ignore-exclude-lb does not override NetworkUnavailable", labels: map[string]string{exclude: ""}, ignore: true,
			conditions: []corev1.NodeCondition{noNetwork}, wantExcluded: true},
		{name: "NetworkUnavailable", conditions: []corev1.NodeCondition{noNetwork, ready}, wantExcluded: true, wantReady: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: tt.labels}, Status: corev1.NodeStatus{Conditions: tt.conditions}}
			got, ready := nodeView(n, tt.ignore)
			if got.Excluded != tt.wantExcluded || ready != tt.wantReady || got.Name != "n1" {
				t.Errorf("nodeView = %+v, ready %v; want excluded %v, ready %v", got, ready, tt.wantExcluded, tt.wantReady)
			}
		})
	}
}
