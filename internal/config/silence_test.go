package config

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/api/v1beta1"
)

// TestForSpeakers: each speaker set reads an advertisement as silencing
// leaves it for that set, and the result parses into the nodes it selects.
func TestForSpeakers(t *testing.T) {
	zoneA := metav1.LabelSelector{MatchLabels: map[string]string{"zone": "a"}}
	before, err := json.Marshal([]metav1.LabelSelector{zoneA})
	if err != nil {
		t.Fatal(err)
	}
	const metallb, ironlb = "metallb-system/metallb-speaker", "metallb-system/ironlb-speaker"
	withAnnotations := func(spec []metav1.LabelSelector, ann map[string]string) v1beta1.L2Advertisement {
		a := l2("adv", "p")
		a.Annotations, a.Spec.NodeSelectors = ann, spec
		return a
	}
	// MetalLB silenced: the spec selects no node, the annotation keeps zone=a.
	rewritten := withAnnotations([]metav1.LabelSelector{SelectsNoNode()},
		map[string]string{AnnotationSilencedSpeakers: metallb, AnnotationNodeSelectorsBefore: string(before)})
	// IronLB silenced for the way back: the spec is MetalLB's to read.
	annotated := withAnnotations([]metav1.LabelSelector{zoneA}, map[string]string{AnnotationSilencedSpeakers: ironlb + ",other/speaker"})
	plain := withAnnotations([]metav1.LabelSelector{zoneA}, nil)

	nodeA := labels.Set{"zone": "a"}
	nodeB := labels.Set{"zone": "b"}
	tests := []struct {
		name      string
		adv       v1beta1.L2Advertisement
		set       string
		wantA     bool
		wantB     bool
		wantNoSel bool // reads SelectsNoNode
	}{
		{"plain, any set", plain, ironlb, true, false, false},
		{"plain, set unknown", plain, "", true, false, false},
		{"rewritten, read by the silenced set", rewritten, metallb, false, false, true},
		{"rewritten, read by IronLB: the selectors before", rewritten, ironlb, true, false, false},
		{"rewritten, set unknown: the selectors before", rewritten, "", true, false, false},
		{"annotated, read by the silenced set", annotated, ironlb, false, false, true},
		{"annotated, second of the list", annotated, "other/speaker", false, false, true},
		{"annotated, read by MetalLB's set: the spec", annotated, metallb, true, false, false},
	}
	noNode := SelectsNoNode()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []v1beta1.L2Advertisement{tt.adv}
			got := ForSpeakers(in, tt.set)
			if in[0].Spec.NodeSelectors[0].String() != tt.adv.Spec.NodeSelectors[0].String() {
				t.Fatalf("ForSpeakers changed its input")
			}
			if isNoNode := len(got[0].Spec.NodeSelectors) == 1 && got[0].Spec.NodeSelectors[0].String() == noNode.String(); isNoNode != tt.wantNoSel {
				t.Errorf("reads SelectsNoNode %v, want %v: %v", isNoNode, tt.wantNoSel, got[0].Spec.NodeSelectors)
			}
			cfg, _, err := Parse(Resources{Pools: []v1beta1.IPAddressPool{ipPool("p", "10.0.0.0/24")}, L2Advertisements: got})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			sels := cfg.L2Advertisements[0].NodeSelectors
			if a, b := MatchesAny(sels, nodeA), MatchesAny(sels, nodeB); a != tt.wantA || b != tt.wantB {
				t.Errorf("selects zone=a %v, zone=b %v; want %v, %v", a, b, tt.wantA, tt.wantB)
			}
		})
	}
}

// TestSelectsNoNode: no set of labels matches it, the silence label's
// presence included.
func TestSelectsNoNode(t *testing.T) {
	sel := SelectsNoNode()
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []labels.Set{nil, {"zone": "a"}, {silenceLabel: ""}, {silenceLabel: "true"}} {
		if s.Matches(l) {
			t.Errorf("matches %v", l)
		}
	}
}
