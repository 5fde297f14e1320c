package monitoring

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDaemonSetSeries: the series carry kube-state-metrics' names and
// labels and follow the latest list (a DaemonSet gone is gone).
func TestDaemonSetSeries(t *testing.T) {
	d := &daemonSetSeries{}
	ds := func(ns, name string, desired, ready int32) appsv1.DaemonSet {
		return appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: desired, NumberReady: ready}}
	}
	d.set([]appsv1.DaemonSet{ds("metallb-system", "ironlb-speaker", 4, 3), ds("metallb-system", "other", 2, 2)})
	d.set([]appsv1.DaemonSet{ds("metallb-system", "ironlb-speaker", 4, 3)})
	want := `
# HELP kube_daemonset_status_desired_number_scheduled The number of nodes that should be running the daemon pod.
# TYPE kube_daemonset_status_desired_number_scheduled gauge
kube_daemonset_status_desired_number_scheduled{daemonset="ironlb-speaker",namespace="metallb-system"} 4
# HELP kube_daemonset_status_number_ready The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.
# TYPE kube_daemonset_status_number_ready gauge
kube_daemonset_status_number_ready{daemonset="ironlb-speaker",namespace="metallb-system"} 3
`
	if err := testutil.CollectAndCompare(d, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
