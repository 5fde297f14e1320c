package migrate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/kube"
)

// Group is the API group both implementations serve.
const Group = "metallb.io"

func isMetalLBCRD(kind, name string) bool {
	return kind == "CustomResourceDefinition" && strings.HasSuffix(name, "."+Group)
}

// Inspect reads what the hand-over concerns: the metallb.io CRDs and their
// owners, the Helm records of the releases in namespace that render them,
// the configuration, the Services holding IPs and the workloads.
func Inspect(ctx context.Context, c client.Client, namespace string) (Inventory, error) {
	inv := Inventory{Namespace: namespace, Config: map[string]int{}}
	var crds apiextensionsv1.CustomResourceDefinitionList
	if err := c.List(ctx, &crds); err != nil {
		return inv, fmt.Errorf("listing CRDs: %w", err)
	}
	for _, d := range crds.Items {
		if d.Spec.Group != Group {
			continue
		}
		crd := CRD{Name: d.Name, Release: d.Annotations[AnnotationReleaseName], ReleaseNamespace: d.Annotations[AnnotationReleaseNamespace],
			ManagedBy: d.Labels[LabelManagedBy], Keep: d.Annotations[AnnotationResourcePolicy] == "keep"}
		if conv := d.Spec.Conversion; conv != nil && conv.Webhook != nil && conv.Webhook.ClientConfig != nil && conv.Webhook.ClientConfig.Service != nil {
			crd.ConversionService = conv.Webhook.ClientConfig.Service.Namespace + "/" + conv.Webhook.ClientConfig.Service.Name
		}
		inv.CRDs = append(inv.CRDs, crd)
	}
	slices.SortFunc(inv.CRDs, func(a, b CRD) int { return strings.Compare(a.Name, b.Name) })

	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.InNamespace(namespace), client.MatchingLabels{"owner": "helm"}); err != nil {
		return inv, fmt.Errorf("listing the Helm release records of namespace %s: %w", namespace, err)
	}
	for _, s := range secrets.Items {
		if s.Type != HelmReleaseSecretType {
			continue
		}
		rec, err := DecodeRelease(s.Data["release"])
		if err != nil {
			return inv, fmt.Errorf("helm release record %s/%s: %w", namespace, s.Name, err)
		}
		manifest, _ := rec["manifest"].(string)
		_, crdsInRecord, err := DropFromManifest(manifest, isMetalLBCRD)
		if err != nil {
			return inv, fmt.Errorf("helm release record %s/%s: %w", namespace, s.Name, err)
		}
		if len(crdsInRecord) == 0 {
			continue
		}
		rev, _ := strconv.Atoi(s.Labels["version"])
		inv.Records = append(inv.Records, HelmRecord{Release: s.Labels["name"], Secret: s.Name, Revision: rev, Status: s.Labels["status"], CRDs: crdsInRecord})
	}
	slices.SortFunc(inv.Records, func(a, b HelmRecord) int {
		return strings.Compare(fmt.Sprintf("%s/%09d", a.Release, a.Revision), fmt.Sprintf("%s/%09d", b.Release, b.Revision))
	})

	if len(inv.CRDs) > 0 {
		res, err := kube.ListConfig(ctx, c, namespace)
		if err != nil {
			return inv, err
		}
		for kind, n := range map[string]int{"IPAddressPool": len(res.Pools), "L2Advertisement": len(res.L2Advertisements),
			"BGPAdvertisement": len(res.BGPAdvertisements), "BGPPeer": len(res.Peers), "Community": len(res.Communities), "BFDProfile": len(res.BFDProfiles)} {
			if n > 0 {
				inv.Config[kind] = n
			}
		}
	}

	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs); err != nil {
		return inv, fmt.Errorf("listing Services: %w", err)
	}
	for _, s := range svcs.Items {
		ips := kube.IngressIPs(&s)
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer || len(ips) == 0 {
			continue
		}
		svc := Service{Key: s.Namespace + "/" + s.Name, Pool: s.Annotations[compat.AnnotationIPAllocatedFromPool]}
		for _, ip := range ips {
			svc.IPs = append(svc.IPs, ip.String())
		}
		inv.Services = append(inv.Services, svc)
	}
	slices.SortFunc(inv.Services, func(a, b Service) int { return strings.Compare(a.Key, b.Key) })

	var deps appsv1.DeploymentList
	var dss appsv1.DaemonSetList
	if err := c.List(ctx, &deps, client.InNamespace(namespace)); err != nil {
		return inv, fmt.Errorf("listing Deployments: %w", err)
	}
	if err := c.List(ctx, &dss, client.InNamespace(namespace)); err != nil {
		return inv, fmt.Errorf("listing DaemonSets: %w", err)
	}
	for _, d := range deps.Items {
		inv.Workloads = append(inv.Workloads, "Deployment "+d.Name+" ("+images(d.Spec.Template.Spec)+")")
	}
	for _, d := range dss.Items {
		inv.Workloads = append(inv.Workloads, "DaemonSet "+d.Name+" ("+images(d.Spec.Template.Spec)+")")
	}
	return inv, nil
}

func images(p corev1.PodSpec) string {
	var out []string
	for _, c := range p.Containers {
		out = append(out, c.Image)
	}
	return strings.Join(out, ", ")
}

// Apply makes the planned changes, in order; it stops at the first that
// fails, naming it (what ran before stays: every step is idempotent, so
// running the command again finishes the job).
func Apply(ctx context.Context, c client.Client, namespace string, target Target, steps []Step) error {
	for _, s := range steps {
		var err error
		switch s.Kind {
		case AdoptCRD:
			err = adoptCRD(ctx, c, s.Name, target)
		case DropFromRecord:
			err = dropFromRecord(ctx, c, namespace, s.Name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.Object, err)
		}
	}
	return nil
}

func adoptCRD(ctx context.Context, c client.Client, name string, target Target) error {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &crd); err != nil {
		return err
	}
	orig := crd.DeepCopy()
	if crd.Annotations == nil {
		crd.Annotations = map[string]string{}
	}
	if crd.Labels == nil {
		crd.Labels = map[string]string{}
	}
	if target.Release == "" {
		delete(crd.Annotations, AnnotationReleaseName)
		delete(crd.Annotations, AnnotationReleaseNamespace)
		delete(crd.Annotations, AnnotationResourcePolicy)
		delete(crd.Labels, LabelManagedBy)
	} else {
		crd.Annotations[AnnotationReleaseName] = target.Release
		crd.Annotations[AnnotationReleaseNamespace] = target.Namespace
		crd.Annotations[AnnotationResourcePolicy] = "keep"
		crd.Labels[LabelManagedBy] = "Helm"
	}
	return c.Patch(ctx, &crd, client.MergeFrom(orig))
}

func dropFromRecord(ctx context.Context, c client.Client, namespace, name string) error {
	var s corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		return err
	}
	rec, err := DecodeRelease(s.Data["release"])
	if err != nil {
		return err
	}
	manifest, _ := rec["manifest"].(string)
	rest, dropped, err := DropFromManifest(manifest, isMetalLBCRD)
	if err != nil || len(dropped) == 0 {
		return err
	}
	rec["manifest"] = rest
	data, err := EncodeRelease(rec)
	if err != nil {
		return err
	}
	s.Data["release"] = data
	// An update with the read resourceVersion: a concurrent helm command
	// fails it instead of being overwritten.
	return c.Update(ctx, &s)
}

// Namespaced tells RemovalPlan which kinds are namespaced, as the cluster
// serves them.
func Namespaced(c client.Client) func(Object) (bool, error) {
	return func(o Object) (bool, error) {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(o.APIVersion)
		u.SetKind(o.Kind)
		return c.IsObjectNamespaced(u)
	}
}

// CheckReplacement refuses to remove MetalLB while no other speaker
// DaemonSet in namespace (IronLB's) has every pod ready: removing MetalLB
// then would leave its VIPs unannounced.
func CheckReplacement(ctx context.Context, c client.Client, namespace string, metallb []Object) error {
	var dss appsv1.DaemonSetList
	if err := c.List(ctx, &dss, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing DaemonSets: %w", err)
	}
	var seen []string
	for _, d := range dss.Items {
		if slices.Contains(metallb, Object{APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: namespace, Name: d.Name}) {
			continue
		}
		st := d.Status
		if st.DesiredNumberScheduled > 0 && st.NumberReady == st.DesiredNumberScheduled && st.UpdatedNumberScheduled == st.DesiredNumberScheduled {
			return nil
		}
		seen = append(seen, fmt.Sprintf("%s (%d of %d ready)", d.Name, st.NumberReady, st.DesiredNumberScheduled))
	}
	if len(seen) == 0 {
		seen = []string{"none"}
	}
	return fmt.Errorf("no speaker DaemonSet besides MetalLB's has every pod ready in %s (others: %s): install IronLB first, or removing MetalLB stops every announcement",
		namespace, strings.Join(seen, ", "))
}

// Remove deletes objs in order, each with its dependents in the background
// (the memberlist Secret MetalLB's controller owns goes with it); one
// already gone is no error, so running again finishes the job.
func Remove(ctx context.Context, c client.Client, objs []Object) error {
	for _, o := range objs {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(o.APIVersion)
		u.SetKind(o.Kind)
		u.SetNamespace(o.Namespace)
		u.SetName(o.Name)
		if err := c.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s: %w", o, err)
		}
	}
	return nil
}
