// Package compat checks IronLB's user-facing interface against MetalLB's.
package compat

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// updateFrom regenerates testdata/metallb from a directory of MetalLB's
// published CRD YAML (config/crd/bases of its repository):
//
//	go test ./test/compat -run TestCRDSchemas -update-from /path/to/metallb/config/crd/bases
var updateFrom = flag.String("update-from", "", "directory of MetalLB CRD YAML to record as the reference")

const (
	ourCRDs   = "../../config/crd/bases"
	reference = "testdata/metallb"
)

// Kinds MetalLB publishes that IronLB does not serve (yet), with the reason.
var notServed = map[string]string{}

// fingerprint reduces a CRD to its interface facts: names, scope, versions,
// printer columns and the structural schema (types, required fields,
// defaults, enums, bounds, CEL rules). Prose is dropped: descriptions, CEL
// messages and deprecation texts are ours to write. The conversion stanza is
// not in either project's bases (both add it with a patch); the chart's
// tests compare ours with MetalLB's.
func fingerprint(t *testing.T, data []byte) (string, []byte) {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		t.Fatalf("parsing CRD: %v", err)
	}
	spec := crd.Spec.DeepCopy()
	spec.Conversion = nil
	for i := range spec.Versions {
		v := &spec.Versions[i]
		v.DeprecationWarning = nil
		for j := range v.AdditionalPrinterColumns {
			v.AdditionalPrinterColumns[j].Description = ""
		}
		if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			stripProse(v.Schema.OpenAPIV3Schema)
		}
	}
	out, err := json.MarshalIndent(struct {
		Name string                                        `json:"name"`
		Spec *apiextensionsv1.CustomResourceDefinitionSpec `json:"spec"`
	}{crd.Name, spec}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return crd.Name, append(out, '\n')
}

func stripProse(s *apiextensionsv1.JSONSchemaProps) {
	s.Description = ""
	for i := range s.XValidations {
		s.XValidations[i].Message = ""
	}
	for k, p := range s.Properties {
		stripProse(&p)
		s.Properties[k] = p
	}
	if s.Items != nil && s.Items.Schema != nil {
		stripProse(s.Items.Schema)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		stripProse(s.AdditionalProperties.Schema)
	}
}

func readFingerprints(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRD YAML in %s (err %v)", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name, fp := fingerprint(t, data)
		out[name] = fp
	}
	return out
}

// TestCRDSchemas proves that every MetalLB manifest that validates against
// MetalLB's CRDs validates the same way against ours, and that kubectl shows
// the same columns.
func TestCRDSchemas(t *testing.T) {
	if *updateFrom != "" {
		for name, fp := range readFingerprints(t, *updateFrom) {
			if _, skip := notServed[name]; skip {
				continue
			}
			if err := os.WriteFile(filepath.Join(reference, name+".json"), fp, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ours := readFingerprints(t, ourCRDs)
	refs, err := filepath.Glob(filepath.Join(reference, "*.json"))
	if err != nil || len(refs) == 0 {
		t.Fatalf("no reference fingerprints in %s", reference)
	}
	var names []string
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(ref), ".json")
		names = append(names, name)
		want, err := os.ReadFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ours[name]
		if !ok {
			t.Errorf("MetalLB serves %s, IronLB has no such CRD", name)
			continue
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s differs from MetalLB's schema (-metallb +ironlb):\n%s", name, diff)
		}
	}
	sort.Strings(names)
	if len(names) != 9 {
		t.Errorf("reference covers %d CRDs, want compat.md's 8 and ConfigurationState (MetalLB 0.15.3): %v", len(names), names)
	}
	for name := range ours {
		if !contains(names, name) {
			t.Errorf("IronLB has CRD %s that MetalLB does not publish", name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
