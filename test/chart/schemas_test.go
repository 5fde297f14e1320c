package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/ironlb/ironlb/test/cache"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// k8sVersion is the Kubernetes release whose OpenAPI spec the manifests are
// checked against; its module ships the spec (api/openapi-spec).
const k8sVersion = "v1.36.3"

// converterVersion names the conversion below in the cache path: bump it
// when the conversion changes so stale schemas are not reused.
const converterVersion = "1"

// Kubeconform looks schemas up as {{ .ResourceKind }}{{ .KindSuffix }}.json:
// kind, the first label of the group ("" for the core group) and the version,
// lower case (deployment-apps-v1.json, service-v1.json,
// ipaddresspool-metallb-v1beta1.json).
func schemaFileName(group, version, kind string) string {
	name := strings.ToLower(kind)
	if group != "" {
		name += "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return name + "-" + strings.ToLower(version) + ".json"
}

// kubernetesSchemas converts the Kubernetes OpenAPI v2 spec into one
// standalone, strict JSON schema per kind (once; then cached) and returns
// the directory.
func kubernetesSchemas() (string, error) {
	cacheDir, err := cache.Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, "kubeconform", k8sVersion+"-strict-"+converterVersion)
	if _, err := os.Stat(filepath.Join(dir, "deployment-apps-v1.json")); err == nil {
		return dir, nil
	}
	spec, err := openAPISpec()
	if err != nil {
		return "", err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return "", fmt.Errorf("parsing the OpenAPI spec: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".convert-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", err
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(dir), ".convert-"); err != nil {
			return "", err
		}
	}
	defer os.RemoveAll(tmp)
	defs := map[string]any{}
	for name, d := range doc.Definitions {
		defs[name] = strictify(fixDefinition(name, d))
	}
	n := 0
	for name, d := range doc.Definitions {
		gvks, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			schema := map[string]any{"$ref": "#/definitions/" + name, "definitions": closure(defs, name)}
			if err := writeJSON(filepath.Join(tmp, schemaFileName(group, version, kind)), schema); err != nil {
				return "", err
			}
			n++
		}
	}
	if n < 100 {
		return "", fmt.Errorf("converted only %d kinds from the OpenAPI spec", n)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// openAPISpec reads api/openapi-spec/swagger.json from the k8s.io/kubernetes
// module (downloaded to the module cache if it is not there yet).
func openAPISpec() ([]byte, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+k8sVersion).Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: %w", k8sVersion, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, err
	}
	if mod.Error != "" {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: %s", k8sVersion, mod.Error)
	}
	return os.ReadFile(filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json"))
}

// fixDefinition corrects what OpenAPI v2 cannot say: an IntOrString is a
// string or an integer, a Quantity a string or a number.
func fixDefinition(name string, d map[string]any) map[string]any {
	switch name {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	}
	return d
}

// strictify forbids properties a schema does not declare (kubeconform's
// -strict schemas), unless it says otherwise or keeps unknown fields.
func strictify(v any) any {
	switch s := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(s)+1)
		for k, x := range s {
			if k == "properties" || k == "definitions" {
				props := map[string]any{}
				for pk, px := range x.(map[string]any) {
					props[pk] = strictify(px)
				}
				out[k] = props
				continue
			}
			out[k] = strictify(x)
		}
		_, hasProps := s["properties"]
		_, hasAdditional := s["additionalProperties"]
		preserve, _ := s["x-kubernetes-preserve-unknown-fields"].(bool)
		if hasProps && !hasAdditional && !preserve {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = strictify(x)
		}
		return out
	}
	return v
}

// closure returns the definitions name refers to, transitively.
func closure(defs map[string]any, name string) map[string]any {
	out := map[string]any{}
	var visit func(string)
	var walk func(any)
	visit = func(n string) {
		if _, done := out[n]; done {
			return
		}
		d, ok := defs[n]
		if !ok {
			return
		}
		out[n] = d
		walk(d)
	}
	walk = func(v any) {
		switch s := v.(type) {
		case map[string]any:
			if ref, ok := s["$ref"].(string); ok {
				visit(strings.TrimPrefix(ref, "#/definitions/"))
			}
			for _, x := range s {
				walk(x)
			}
		case []any:
			for _, x := range s {
				walk(x)
			}
		}
	}
	visit(name)
	return out
}

// crdSchemas writes a strict schema for every version of every CRD in the
// given files into dir.
func crdSchemas(dir string, files []string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	out := filepath.Join(dir, "crds-"+hex.EncodeToString(h.Sum(nil))[:12])
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		var crd struct {
			Spec struct {
				Group    string
				Names    struct{ Kind string }
				Versions []struct {
					Name   string
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					}
				}
			}
		}
		if err := yaml.Unmarshal(b, &crd); err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range crd.Spec.Versions {
			s := v.Schema.OpenAPIV3Schema
			if s == nil {
				return "", fmt.Errorf("%s: version %s has no schema", f, v.Name)
			}
			// The apiserver checks metadata itself; the CRD says only "object".
			if props, ok := s["properties"].(map[string]any); ok {
				props["metadata"] = map[string]any{"type": "object"}
			}
			if err := writeJSON(filepath.Join(out, schemaFileName(crd.Spec.Group, v.Name, crd.Spec.Names.Kind)), strictify(s)); err != nil {
				return "", err
			}
		}
	}
	return out, nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
