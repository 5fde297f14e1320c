package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
)

// Silence silences adv for the speaker DaemonSet speakers
// ("namespace/name"): its speakers read it as selecting no node, so they
// withdraw its VIPs together, and none takes over another's while they
// stop. MetalLB's speakers read no annotation, so for them (rewriteSpec)
// the spec itself is made to select no node and the selectors it had are
// kept in an annotation, which IronLB's speakers read instead. It reports
// whether adv changed; silencing twice changes nothing.
func Silence(adv *v1beta1.L2Advertisement, speakers string, rewriteSpec bool) (bool, error) {
	changed := false
	if rewriteSpec {
		if _, ok := adv.Annotations[config.AnnotationNodeSelectorsBefore]; !ok {
			before := adv.Spec.NodeSelectors
			if before == nil {
				before = []metav1.LabelSelector{}
			}
			raw, err := json.Marshal(before)
			if err != nil {
				return false, fmt.Errorf("L2Advertisement %s: encoding spec.nodeSelectors: %w", adv.Name, err)
			}
			setAnnotation(adv, config.AnnotationNodeSelectorsBefore, string(raw))
			adv.Spec.NodeSelectors = []metav1.LabelSelector{config.SelectsNoNode()}
			changed = true
		}
	}
	if set := config.SilencedSpeakers(adv); !slices.Contains(set, speakers) {
		setAnnotation(adv, config.AnnotationSilencedSpeakers, strings.Join(append(set, speakers), ","))
		changed = true
	}
	return changed, nil
}

// Unsilence undoes Silence for every speaker set: the spec gets back the
// selectors it had and both annotations go. It reports whether adv
// changed.
func Unsilence(adv *v1beta1.L2Advertisement) (bool, error) {
	before, ok, err := config.NodeSelectorsBefore(adv)
	if err != nil {
		return false, fmt.Errorf("L2Advertisement %s: annotation %s: %w", adv.Name, config.AnnotationNodeSelectorsBefore, err)
	}
	_, silenced := adv.Annotations[config.AnnotationSilencedSpeakers]
	if !ok && !silenced {
		return false, nil
	}
	if ok {
		if len(before) == 0 {
			before = nil
		}
		adv.Spec.NodeSelectors = before
	}
	delete(adv.Annotations, config.AnnotationNodeSelectorsBefore)
	delete(adv.Annotations, config.AnnotationSilencedSpeakers)
	return true, nil
}

func setAnnotation(adv *v1beta1.L2Advertisement, key, value string) {
	if adv.Annotations == nil {
		adv.Annotations = map[string]string{}
	}
	adv.Annotations[key] = value
}

// SilenceAll silences every L2Advertisement of namespace for the speaker
// DaemonSet ds (Silence), writing them unless dryRun, and names those that
// change.
func SilenceAll(ctx context.Context, c client.Client, namespace, ds string, rewriteSpec, dryRun bool) ([]string, error) {
	return eachL2Advertisement(ctx, c, namespace, dryRun, func(adv *v1beta1.L2Advertisement) (bool, error) {
		return Silence(adv, namespace+"/"+ds, rewriteSpec)
	})
}

// UnsilenceAll undoes SilenceAll for every L2Advertisement of namespace.
func UnsilenceAll(ctx context.Context, c client.Client, namespace string, dryRun bool) ([]string, error) {
	return eachL2Advertisement(ctx, c, namespace, dryRun, Unsilence)
}

func eachL2Advertisement(ctx context.Context, c client.Client, namespace string, dryRun bool, change func(*v1beta1.L2Advertisement) (bool, error)) ([]string, error) {
	var advs v1beta1.L2AdvertisementList
	if err := c.List(ctx, &advs, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing the L2Advertisements of %s: %w", namespace, err)
	}
	var changed []string
	for i := range advs.Items {
		adv := &advs.Items[i]
		ok, err := change(adv)
		if err != nil {
			return changed, err
		}
		if !ok {
			continue
		}
		if !dryRun {
			if err := c.Update(ctx, adv); err != nil {
				return changed, fmt.Errorf("updating L2Advertisement %s/%s: %w", namespace, adv.Name, err)
			}
		}
		changed = append(changed, adv.Name)
	}
	return changed, nil
}

// SpeakerSets are the speaker DaemonSets of namespace, by name: those whose
// pods carry MetalLB's speaker labels (app=metallb, component=speaker, as
// MetalLB's manifests and IronLB's chart label them) or MetalLB's chart's
// (app.kubernetes.io/component=speaker).
func SpeakerSets(ctx context.Context, c client.Client, namespace string) (map[string]appsv1.DaemonSet, error) {
	var dss appsv1.DaemonSetList
	if err := c.List(ctx, &dss, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing the DaemonSets of %s: %w", namespace, err)
	}
	out := map[string]appsv1.DaemonSet{}
	for _, d := range dss.Items {
		l := d.Spec.Template.Labels
		if l["component"] == "speaker" || l["app.kubernetes.io/component"] == "speaker" {
			out[d.Name] = d
		}
	}
	return out, nil
}

// AllReady reports whether every pod of the DaemonSet is ready and up to
// date.
func AllReady(d appsv1.DaemonSet) bool {
	st := d.Status
	return st.DesiredNumberScheduled > 0 && st.NumberReady == st.DesiredNumberScheduled && st.UpdatedNumberScheduled == st.DesiredNumberScheduled
}

// Announcing names the ServiceL2Status objects of namespace that a pod of
// the DaemonSet ds owns: the Services its speakers still announce.
func Announcing(ctx context.Context, c client.Client, namespace string, ds appsv1.DaemonSet) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("DaemonSet %s/%s: selector: %w", namespace, ds.Name, err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing the pods of DaemonSet %s/%s: %w", namespace, ds.Name, err)
	}
	var sts v1beta1.ServiceL2StatusList
	if err := c.List(ctx, &sts, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing the ServiceL2Status objects of %s: %w", namespace, err)
	}
	out := ownedStatuses(sts.Items, podsOf(pods.Items, ds.UID))
	slices.Sort(out)
	return out, nil
}

// podsOf are the UIDs of the pods the DaemonSet dsUID controls. The
// selector the pods were listed with is not enough: MetalLB's manifests
// select app=metallb,component=speaker, which IronLB's speakers carry too.
func podsOf(pods []corev1.Pod, dsUID types.UID) map[types.UID]bool {
	out := map[types.UID]bool{}
	for i := range pods {
		if ref := metav1.GetControllerOf(&pods[i]); ref != nil && ref.UID == dsUID {
			out[pods[i].UID] = true
		}
	}
	return out
}

// ownedStatuses describes the statuses one of the pods owns.
func ownedStatuses(sts []v1beta1.ServiceL2Status, pods map[types.UID]bool) []string {
	var out []string
	for _, st := range sts {
		if slices.ContainsFunc(st.OwnerReferences, func(ref metav1.OwnerReference) bool { return pods[ref.UID] }) {
			out = append(out, fmt.Sprintf("%s (%s/%s from %s)", st.Name, st.Status.ServiceNamespace, st.Status.ServiceName, st.Status.Node))
		}
	}
	return out
}
