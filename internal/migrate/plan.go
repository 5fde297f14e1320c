// Package migrate moves a cluster between MetalLB and IronLB without
// changing an IP or losing a configuration object. Both read the same
// metallb.io CRDs, the same Services' status and the same annotations, so
// what has to move is ownership: the CRDs belong to the Helm release of the
// implementation being removed, and its uninstall would delete them and every
// pool, advertisement and peer with them. The hand-over makes the CRDs the
// new release's (Helm adopts them on install) and takes them out of the old
// release's records (its uninstall leaves them).
//
// Plan is pure; Inspect and Apply do the Kubernetes I/O.
package migrate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Helm's ownership marks.
const (
	AnnotationReleaseName      = "meta.helm.sh/release-name"
	AnnotationReleaseNamespace = "meta.helm.sh/release-namespace"
	AnnotationResourcePolicy   = "helm.sh/resource-policy"
	LabelManagedBy             = "app.kubernetes.io/managed-by"
)

// CRD is one metallb.io CustomResourceDefinition as the hand-over sees it.
type CRD struct {
	Name string
	// Release and ReleaseNamespace are its Helm owner, empty when none
	// (a manifest or kustomize install).
	Release, ReleaseNamespace string
	ManagedBy                 string
	Keep                      bool
	// ConversionService is "namespace/name" of its conversion webhook.
	ConversionService string
}

// HelmRecord is one stored revision of a Helm release that renders
// metallb.io CRDs.
type HelmRecord struct {
	Release  string
	Secret   string
	Revision int
	Status   string
	CRDs     []string
}

// Service is a Service holding load-balancer IPs.
type Service struct {
	Key  string
	IPs  []string
	Pool string
}

// Inventory is what the cluster holds that the hand-over concerns.
type Inventory struct {
	Namespace string
	CRDs      []CRD
	Records   []HelmRecord
	// Config counts the configuration objects by kind.
	Config    map[string]int
	Services  []Service
	Workloads []string
}

// StepKind is what a step does.
type StepKind int

const (
	// AdoptCRD marks a CRD as the target release's, kept on uninstall.
	AdoptCRD StepKind = iota
	// DropFromRecord takes the CRDs out of a Helm release record.
	DropFromRecord
)

// Step is one change to one object.
type Step struct {
	Kind StepKind
	// Object is "Kind namespace/name" or "Kind name".
	Object string
	Name   string
	Change string
}

// Target is where the CRDs go: a Helm release in a namespace, or, with no
// Release, no release at all (MetalLB installed from manifests or
// kustomize takes them with kubectl apply).
type Target struct {
	Release, Namespace string
}

func (t Target) String() string {
	if t.Release == "" {
		return "no Helm release"
	}
	return fmt.Sprintf("Helm release %s/%s", t.Namespace, t.Release)
}

// Plan lists the changes that hand the metallb.io CRDs to target: each CRD
// gets target's ownership marks and Helm's keep policy, and every other
// release's records stop listing them. It changes nothing already right, so
// running it twice plans nothing the second time.
func Plan(inv Inventory, target Target) ([]Step, error) {
	if len(inv.CRDs) == 0 {
		return nil, fmt.Errorf("no metallb.io CRDs in the cluster: there is nothing to migrate (install IronLB with crds.enabled=true)")
	}
	var steps []Step
	for _, c := range inv.CRDs {
		was := Target{Release: c.Release, Namespace: c.ReleaseNamespace}
		if target.Release == "" {
			if c.Release == "" && c.ReleaseNamespace == "" && c.ManagedBy == "" && !c.Keep {
				continue
			}
			steps = append(steps, Step{Kind: AdoptCRD, Object: "CustomResourceDefinition " + c.Name, Name: c.Name,
				Change: fmt.Sprintf("owner %s → no Helm release (annotations %s, %s, %s and label %s removed), so MetalLB's manifest takes it with kubectl apply",
					was, AnnotationReleaseName, AnnotationReleaseNamespace, AnnotationResourcePolicy, LabelManagedBy)})
			continue
		}
		if c.Release == target.Release && c.ReleaseNamespace == target.Namespace && c.ManagedBy == "Helm" && c.Keep {
			continue
		}
		steps = append(steps, Step{Kind: AdoptCRD, Object: "CustomResourceDefinition " + c.Name, Name: c.Name,
			Change: fmt.Sprintf("owner %s → %s (annotations %s, %s, label %s=Helm) and %s=keep, so no uninstall deletes it",
				was, target, AnnotationReleaseName, AnnotationReleaseNamespace, LabelManagedBy, AnnotationResourcePolicy)})
	}
	for _, r := range inv.Records {
		if r.Release == target.Release || len(r.CRDs) == 0 {
			continue
		}
		steps = append(steps, Step{Kind: DropFromRecord, Object: "Secret " + inv.Namespace + "/" + r.Secret, Name: r.Secret,
			Change: fmt.Sprintf("take the %d metallb.io CRDs out of release %s's revision %d (%s), so `helm uninstall %s` leaves them",
				len(r.CRDs), r.Release, r.Revision, r.Status, r.Release)})
	}
	return steps, nil
}

// Owners names the Helm releases that own the CRDs now, sorted.
func (inv Inventory) Owners() []string {
	var out []string
	for _, c := range inv.CRDs {
		if c.Release != "" {
			out = append(out, c.ReleaseNamespace+"/"+c.Release)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Summary describes the inventory for a person, one line per fact.
func (inv Inventory) Summary() []string {
	var lines []string
	owners := inv.Owners()
	switch {
	case len(owners) == 0:
		lines = append(lines, fmt.Sprintf("%d metallb.io CRDs, owned by no Helm release (installed from manifests or kustomize)", len(inv.CRDs)))
	default:
		lines = append(lines, fmt.Sprintf("%d metallb.io CRDs, owned by Helm release %s", len(inv.CRDs), strings.Join(owners, ", ")))
	}
	for _, c := range inv.CRDs {
		if c.ConversionService != "" {
			lines = append(lines, fmt.Sprintf("CRD %s converts through the webhook Service %s", c.Name, c.ConversionService))
		}
	}
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(inv.Config)) {
		kinds = append(kinds, fmt.Sprintf("%d %s", inv.Config[k], k))
	}
	if len(kinds) == 0 {
		kinds = []string{"none"}
	}
	lines = append(lines, fmt.Sprintf("configuration in %s (kept as it is): %s", inv.Namespace, strings.Join(kinds, ", ")))
	lines = append(lines, fmt.Sprintf("%d Services hold load-balancer IPs (kept: the new controller reads them from their status)", len(inv.Services)))
	for _, s := range inv.Services {
		pool := ""
		if s.Pool != "" {
			pool = " from pool " + s.Pool
		}
		lines = append(lines, fmt.Sprintf("  %s: %s%s", s.Key, strings.Join(s.IPs, ", "), pool))
	}
	if len(inv.Workloads) > 0 {
		lines = append(lines, "workloads in "+inv.Namespace+": "+strings.Join(inv.Workloads, ", "))
	}
	return lines
}
