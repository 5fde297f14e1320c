package migrate

import (
	"slices"
	"strings"
	"testing"
)

const manifest = `---
# Source: metallb/charts/crds/templates/crds.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: bgppeers.metallb.io
spec:
  group: metallb.io
---
# Source: metallb/templates/service-accounts.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: metallb-controller
---
# Source: metallb/charts/crds/templates/crds.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ipaddresspools.metallb.io
---
# Source: metallb/templates/controller.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: metallb-controller
`

func TestDropFromManifest(t *testing.T) {
	isCRD := func(kind, name string) bool {
		return kind == "CustomResourceDefinition" && strings.HasSuffix(name, ".metallb.io")
	}
	rest, dropped, err := DropFromManifest(manifest, isCRD)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CustomResourceDefinition/bgppeers.metallb.io", "CustomResourceDefinition/ipaddresspools.metallb.io"}; !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
	if strings.Contains(rest, "CustomResourceDefinition") || !strings.Contains(rest, "name: metallb-controller\n---\n# Source: metallb/templates/controller.yaml") {
		t.Errorf("kept manifest:\n%s", rest)
	}
	again, none, err := DropFromManifest(rest, isCRD)
	if err != nil || len(none) != 0 || again != rest {
		t.Errorf("a second pass changed the manifest or dropped %v (%v):\n%s", none, err, again)
	}
}

func TestReleaseRecordRoundTrips(t *testing.T) {
	rec := map[string]any{"name": "metallb", "version": float64(3), "manifest": manifest, "info": map[string]any{"status": "deployed"}}
	data, err := EncodeRelease(rec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeRelease(data)
	if err != nil {
		t.Fatal(err)
	}
	if back["manifest"] != manifest || back["name"] != "metallb" || back["version"] != float64(3) {
		t.Errorf("round trip changed the record: %v", back)
	}
	if _, err := DecodeRelease([]byte("not base64!")); err == nil {
		t.Error("garbage decoded")
	}
}
