package watch

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podReader lists fixed speaker pods.
type podReader struct {
	client.Reader
	pods []corev1.Pod
}

func (r podReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	list.(*corev1.PodList).Items = r.pods
	return nil
}

// joiner records joins; alive is what memberlist counts alive.
type joiner struct {
	alive   []string
	joins   [][]string
	settled bool
}

func (j *joiner) Join(peers []string) (int, error) {
	j.joins = append(j.joins, peers)
	return len(peers), nil
}
func (j *joiner) Alive() []string { return j.alive }
func (j *joiner) MarkSettled()    { j.settled = true }

// created is when the test's speaker pods were created; the test clock is
// a second later.
var created = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func testNow() time.Time { return created.Add(time.Second) }

func speakerPod(node, ip string, phase corev1.PodPhase) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "speaker-" + node, CreationTimestamp: metav1.NewTime(created)}, Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
}

// TestPeersRejoinHealsPartition: a running speaker memberlist does not
// count alive (a partition made each side take the other for dead) is
// joined again on every reconcile, which comes back after Rejoin; alive
// ones, this node and pods not running are never dialled.
func TestPeersRejoinHealsPartition(t *testing.T) {
	pods := []corev1.Pod{
		speakerPod("a", "10.0.0.1", corev1.PodRunning),
		speakerPod("b", "10.0.0.2", corev1.PodRunning),
		speakerPod("c", "10.0.0.3", corev1.PodRunning),
		speakerPod("d", "10.0.0.4", corev1.PodPending),
	}
	j := &joiner{alive: []string{"a", "b", "c"}}
	r := &Peers{Client: podReader{pods: pods}, Namespace: "metallb-system", Selector: labels.Everything(), NodeName: "a",
		Port: 7946, Members: j, Rejoin: DefaultRejoinInterval}
	reconcile := func() ctrl.Result {
		t.Helper()
		res, err := r.Reconcile(context.Background(), ctrl.Request{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if res := reconcile(); res.RequeueAfter != DefaultRejoinInterval {
		t.Errorf("RequeueAfter = %s, want %s", res.RequeueAfter, DefaultRejoinInterval)
	}
	if len(j.joins) != 0 {
		t.Errorf("with every running peer alive, joined %v; want nothing", j.joins)
	}

	j.alive = []string{"a", "b"} // c is cut off
	reconcile()
	reconcile()
	for i, got := range j.joins {
		if want := []string{"10.0.0.3:7946"}; !slices.Equal(got, want) {
			t.Errorf("reconcile %d during the partition joined %v, want %v", i+1, got, want)
		}
	}
}

// TestPeersNoRejoin: without Rejoin, Reconcile does not come back by
// itself.
func TestPeersNoRejoin(t *testing.T) {
	r := &Peers{Client: podReader{}, Selector: labels.Everything(), NodeName: "a", Members: &joiner{}}
	res, err := r.Reconcile(context.Background(), ctrl.Request{})
	if err != nil || res.RequeueAfter != time.Duration(0) {
		t.Errorf("Reconcile = %+v, %v; want no requeue", res, err)
	}
}

// TestPeersSettleOnlyWhenEveryScheduledSpeakerJoined: a speaker announces
// nothing while speakers scheduled on other nodes (still starting) have not
// joined: alone, it would answer for their VIPs beside them (or beside
// MetalLB's speakers during a migration). Pods being deleted or finished
// are not waited for.
func TestPeersSettleOnlyWhenEveryScheduledSpeakerJoined(t *testing.T) {
	starting := speakerPod("b", "", corev1.PodPending)
	leaving := speakerPod("c", "10.0.0.3", corev1.PodRunning)
	now := metav1.Now()
	leaving.DeletionTimestamp = &now
	pods := []corev1.Pod{speakerPod("a", "10.0.0.1", corev1.PodRunning), starting, leaving, speakerPod("d", "10.0.0.4", corev1.PodFailed)}
	j := &joiner{alive: []string{"a"}}
	r := &Peers{Client: podReader{pods: pods}, Selector: labels.Everything(), NodeName: "a", Port: 7946, Members: j,
		SettleWindow: 10 * time.Second, Now: testNow, Rejoin: DefaultRejoinInterval}
	res, err := r.Reconcile(context.Background(), ctrl.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if j.settled {
		t.Fatal("settled while the speaker on b is still starting")
	}
	if res.RequeueAfter != settlePoll {
		t.Errorf("RequeueAfter %s while waiting, want %s: members joining this one trigger no reconcile", res.RequeueAfter, settlePoll)
	}
	j.alive = []string{"a", "b"}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{}); err != nil {
		t.Fatal(err)
	}
	if !j.settled {
		t.Error("not settled once every scheduled speaker (b) joined; c is leaving and d failed")
	}

	alone := &joiner{alive: []string{"a"}}
	r = &Peers{Client: podReader{pods: pods[:1]}, Selector: labels.Everything(), NodeName: "a", Members: alone, SettleWindow: 10 * time.Second, Now: testNow}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{}); err != nil || !alone.settled {
		t.Errorf("a single-node cluster: settled %v, %v; want settled at once", alone.settled, err)
	}

	// A speaker restarting beside a node that died long ago does not wait
	// for the dead node's pod, which still says Running.
	late := &joiner{alive: []string{"a"}}
	r = &Peers{Client: podReader{pods: []corev1.Pod{speakerPod("a", "10.0.0.1", corev1.PodRunning), speakerPod("dead", "10.0.0.9", corev1.PodRunning)}},
		Selector: labels.Everything(), NodeName: "a", Members: late, SettleWindow: 10 * time.Second,
		Now: func() time.Time { return created.Add(time.Hour) }}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{}); err != nil || !late.settled {
		t.Errorf("beside an hour-old pod on a dead node: settled %v, %v; want settled at once", late.settled, err)
	}
}
