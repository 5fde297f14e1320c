package migrate

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
)

// TestSilenceRoundTrip: silencing (either way, any number of times) and
// unsilencing gives back the advertisement as it was, and each speaker set
// reads it as it must in between.
func TestSilenceRoundTrip(t *testing.T) {
	zoneA := []metav1.LabelSelector{{MatchLabels: map[string]string{"zone": "a"}}}
	const metallb, ironlb = "metallb-system/metallb-speaker", "metallb-system/ironlb-speaker"
	tests := []struct {
		name        string
		selectors   []metav1.LabelSelector
		annotations map[string]string
		speakers    string
		rewriteSpec bool
	}{
		{"MetalLB silenced, every node", nil, nil, metallb, true},
		{"MetalLB silenced, zone a, other annotations kept", zoneA, map[string]string{"team": "net"}, metallb, true},
		{"IronLB silenced, every node", nil, nil, ironlb, false},
		{"IronLB silenced, zone a", zoneA, nil, ironlb, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv", Annotations: tt.annotations},
				Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"p"}, NodeSelectors: tt.selectors}}
			adv := orig.DeepCopy()
			if changed, err := Silence(adv, tt.speakers, tt.rewriteSpec); err != nil || !changed {
				t.Fatalf("Silence: changed %v, err %v", changed, err)
			}
			once := adv.DeepCopy()
			if changed, err := Silence(adv, tt.speakers, tt.rewriteSpec); err != nil || changed || !reflect.DeepEqual(adv, once) {
				t.Fatalf("silencing again: changed %v, err %v", changed, err)
			}
			// MetalLB reads the spec: silenced only when it is rewritten.
			noNode := config.SelectsNoNode()
			specSilenced := len(adv.Spec.NodeSelectors) == 1 && adv.Spec.NodeSelectors[0].String() == noNode.String()
			if specSilenced != tt.rewriteSpec {
				t.Errorf("spec selects no node: %v, want %v", specSilenced, tt.rewriteSpec)
			}
			for _, set := range []string{metallb, ironlb} {
				read := config.ForSpeakers([]v1beta1.L2Advertisement{*adv}, set)[0].Spec.NodeSelectors
				silenced := len(read) == 1 && read[0].String() == noNode.String()
				if want := set == tt.speakers; silenced != want {
					t.Errorf("%s reads it silenced: %v, want %v", set, silenced, want)
				} else if !want && !reflect.DeepEqual(read, tt.selectors) && !(len(read) == 0 && len(tt.selectors) == 0) {
					t.Errorf("%s reads node selectors %v, want %v", set, read, tt.selectors)
				}
			}
			if changed, err := Unsilence(adv); err != nil || !changed {
				t.Fatalf("Unsilence: changed %v, err %v", changed, err)
			}
			if len(adv.Annotations) == 0 {
				adv.Annotations = orig.Annotations
			}
			if !reflect.DeepEqual(adv, &orig) {
				t.Errorf("after the round trip\n%+v\nwant\n%+v", adv, orig)
			}
			if changed, _ := Unsilence(adv); changed {
				t.Errorf("unsilencing what is not silenced changed it")
			}
		})
	}
}

// TestSilenceBothSets: a second set joins the list; the rewritten spec's
// saved selectors are not overwritten by the rewrite itself.
func TestSilenceBothSets(t *testing.T) {
	adv := &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv"},
		Spec: v1beta1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"zone": "a"}}}}}
	for _, s := range []string{"ns/a", "ns/b"} {
		if _, err := Silence(adv, s, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := config.SilencedSpeakers(adv); !reflect.DeepEqual(got, []string{"ns/a", "ns/b"}) {
		t.Errorf("silenced for %v", got)
	}
	before, ok, err := config.NodeSelectorsBefore(adv)
	if err != nil || !ok || len(before) != 1 || before[0].MatchLabels["zone"] != "a" {
		t.Errorf("selectors before: %v, %v, %v", before, ok, err)
	}
}

// TestOwnedStatuses: the statuses a silenced DaemonSet's speakers still
// own are found by the pods it controls, not by its selector, which
// IronLB's speakers match too when MetalLB was installed from manifests.
func TestOwnedStatuses(t *testing.T) {
	controlled := func(name, pod, ds types.UID) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: string(name), UID: pod, Labels: map[string]string{"app": "metallb", "component": "speaker"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", UID: ds, Controller: ptr.To(true)}}}}
	}
	pods := []corev1.Pod{controlled("speaker-a", "p-metallb", "ds-metallb"), controlled("ironlb-speaker-a", "p-ironlb", "ds-ironlb")}
	status := func(name string, owner types.UID) v1beta1.ServiceL2Status {
		return v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{Kind: "Pod", UID: owner}}},
			Status: v1beta1.ServiceL2StatusStatus{ServiceNamespace: "default", ServiceName: name, Node: "n1"}}
	}
	sts := []v1beta1.ServiceL2Status{status("l2-a", "p-metallb"), status("l2-b", "p-ironlb"), status("l2-c", "gone")}
	got := ownedStatuses(sts, podsOf(pods, "ds-metallb"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "l2-a ") {
		t.Errorf("statuses of MetalLB's speakers: %v, want l2-a only", got)
	}
	if got := ownedStatuses(sts, podsOf(pods, "ds-other")); len(got) != 0 {
		t.Errorf("statuses of a DaemonSet with no pods: %v", got)
	}
}
