package config

import (
	"encoding/json"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta1"
)

// Silencing lets one set of speakers stop announcing layer 2 while another
// set keeps announcing the same VIPs from the same nodes: the hand-over
// between MetalLB and IronLB (docs/migration.md). Without it, uninstalling
// the old speakers stops them one after another, and each that is still
// running re-elects the VIPs of those already gone and announces them from
// its own node while the new speakers answer from the old one: the
// client's ARP cache flips between two MACs and open connections break.
// A silenced set instead has no candidate node at all, so none of its
// speakers takes anything over while they stop.
const (
	// AnnotationSilencedSpeakers on an L2Advertisement names, as
	// "namespace/name" separated by commas, the speaker DaemonSets for
	// which the advertisement selects no node.
	AnnotationSilencedSpeakers = "ironlb.io/silenced-speakers"
	// AnnotationNodeSelectorsBefore holds, as JSON, the spec.nodeSelectors
	// of an L2Advertisement whose spec was rewritten to select no node
	// (SelectsNoNode), because the speakers being silenced (MetalLB's)
	// read no annotation. IronLB's speakers that are not silenced read
	// these selectors instead of the spec.
	AnnotationNodeSelectorsBefore = "ironlb.io/node-selectors-before-silence"
	// silenceLabel is the label key of SelectsNoNode.
	silenceLabel = "ironlb.io/silenced"
)

// SelectsNoNode is a node selector no node can match (a label both present
// and absent), whatever labels nodes get.
func SelectsNoNode() metav1.LabelSelector {
	return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: silenceLabel, Operator: metav1.LabelSelectorOpExists},
		{Key: silenceLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
	}}
}

// SilencedSpeakers are the speaker DaemonSets the advertisement is
// silenced for.
func SilencedSpeakers(adv *v1beta1.L2Advertisement) []string {
	var out []string
	for _, s := range strings.Split(adv.Annotations[AnnotationSilencedSpeakers], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// NodeSelectorsBefore decodes AnnotationNodeSelectorsBefore; ok is false
// when the annotation is absent.
func NodeSelectorsBefore(adv *v1beta1.L2Advertisement) (sels []metav1.LabelSelector, ok bool, err error) {
	raw, ok := adv.Annotations[AnnotationNodeSelectorsBefore]
	if !ok {
		return nil, false, nil
	}
	if err := json.Unmarshal([]byte(raw), &sels); err != nil {
		return nil, true, err
	}
	return sels, true, nil
}

// ForSpeakers is the L2Advertisements as the speakers of the DaemonSet
// speakerSet ("namespace/name"; empty when unknown) must read them: those
// silenced for it select no node, and those whose spec was rewritten for
// other speakers select the nodes they selected before. An annotation that
// does not decode leaves the advertisement as it is; Parse refuses it.
func ForSpeakers(advs []v1beta1.L2Advertisement, speakerSet string) []v1beta1.L2Advertisement {
	out := make([]v1beta1.L2Advertisement, len(advs))
	for i := range advs {
		adv := advs[i].DeepCopy()
		switch before, ok, err := NodeSelectorsBefore(adv); {
		case speakerSet != "" && slices.Contains(SilencedSpeakers(adv), speakerSet):
			adv.Spec.NodeSelectors = []metav1.LabelSelector{SelectsNoNode()}
		case ok && err == nil:
			adv.Spec.NodeSelectors = before
		}
		out[i] = *adv
	}
	return out
}

// checkSilence reports silencing annotations that cannot be read.
func checkSilence(ps *problems, adv *v1beta1.L2Advertisement) {
	ref := Ref{KindL2Advertisement, adv.Name}
	if _, _, err := NodeSelectorsBefore(adv); err != nil {
		ps.add(ref, "metadata.annotations["+AnnotationNodeSelectorsBefore+"]", "not a JSON list of label selectors: %v", err)
	}
	for _, s := range SilencedSpeakers(adv) {
		if ns, name, ok := strings.Cut(s, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			ps.add(ref, "metadata.annotations["+AnnotationSilencedSpeakers+"]", "%q is not a speaker DaemonSet as namespace/name", s)
		}
	}
}
