package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Object names one object of a manifest.
type Object struct {
	APIVersion, Kind, Namespace, Name string
}

func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Group is the object's API group ("" for the core group).
func (o Object) Group() string {
	group, _, found := strings.Cut(o.APIVersion, "/")
	if !found {
		return ""
	}
	return group
}

// Kept is an object of MetalLB's manifest that the removal leaves, and why.
type Kept struct {
	Object Object
	Reason string
}

// ReadManifest reads every object of a multi-document YAML or JSON
// manifest (what `kubectl apply -f` or `kubectl kustomize` takes).
func ReadManifest(data []byte) ([]Object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []Object
	for i := 1; ; i++ {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", i, err)
			}
			for _, item := range list.Items {
				objs = append(objs, Object{APIVersion: item.GetAPIVersion(), Kind: item.GetKind(), Namespace: item.GetNamespace(), Name: item.GetName()})
			}
			continue
		}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d: an object needs a kind and a name", i)
		}
		objs = append(objs, Object{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()})
	}
	if len(objs) == 0 {
		return nil, errors.New("the manifest holds no object")
	}
	return objs, nil
}

// removalOrder ranks kinds: webhook configurations go first, because a
// webhook whose Service is gone refuses every write it intercepts; then the
// speakers and the controller, so nothing of MetalLB runs while its
// permissions and certificates go; then the rest.
func removalOrder(kind string) int {
	switch kind {
	case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
		return 0
	case "DaemonSet":
		return 1
	case "Deployment":
		return 2
	default:
		return 3
	}
}

// RemovalPlan splits MetalLB's manifest into what to delete and what to
// keep: the Namespace (the configuration and IronLB live there), the CRDs
// (IronLB's release owns them after the hand-over) and any metallb.io
// object (configuration) are kept; everything else of MetalLB goes, in
// removalOrder. Objects without a namespace get namespace when namespaced
// says their kind is namespaced (kubectl's default).
func RemovalPlan(objs []Object, namespace string, namespaced func(Object) (bool, error)) (remove []Object, keep []Kept, err error) {
	for _, o := range objs {
		switch {
		case o.Kind == "Namespace" && o.Group() == "":
			keep = append(keep, Kept{o, "the configuration and IronLB live in it"})
			continue
		case o.Kind == "CustomResourceDefinition" && o.Group() == "apiextensions.k8s.io":
			keep = append(keep, Kept{o, "the configuration's types; IronLB's release owns them after `ironlb migrate from-metallb`"})
			continue
		case o.Group() == Group:
			keep = append(keep, Kept{o, "configuration: IronLB reads it"})
			continue
		}
		if o.Namespace == "" {
			ns, err := namespaced(o)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", o, err)
			}
			if ns {
				o.Namespace = namespace
			}
		}
		remove = append(remove, o)
	}
	slices.SortStableFunc(remove, func(a, b Object) int { return removalOrder(a.Kind) - removalOrder(b.Kind) })
	return remove, keep, nil
}
