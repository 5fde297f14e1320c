package ociimage

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestArchiveIsAnOCILayout: the archive's index.json names the image the
// way containerd's import reads it, with the image's own digest.
func TestArchiveIsAnOCILayout(t *testing.T) {
	img, err := Build(baseSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "img.tar")
	if err := WriteTarball(path, img, "nginx", "registry.k8s.io/pause:3.10"); err != nil {
		t.Fatal(err)
	}
	unpacked := filepath.Join(dir, "unpacked")
	if err := untar(path, unpacked); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(unpacked)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	var got []map[string]string
	for _, d := range m.Manifests {
		if d.Digest != want {
			t.Errorf("index.json names %s, want %s", d.Digest, want)
		}
		got = append(got, d.Annotations)
	}
	wantAnn := []map[string]string{
		{containerdNameAnnotation: "docker.io/library/nginx:latest", refNameAnnotation: "latest"},
		{containerdNameAnnotation: "registry.k8s.io/pause:3.10", refNameAnnotation: "3.10"},
	}
	if diff := cmp.Diff(wantAnn, got); diff != "" {
		t.Errorf("index.json annotations (-want +got):\n%s", diff)
	}
	// Every blob is there and verifies against its digest.
	back, err := p.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(back); err != nil {
		t.Errorf("image read from the layout: %v", err)
	}
}

func TestFullName(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                            "docker.io/library/nginx:latest",
		"traefik/whoami":                   "docker.io/traefik/whoami:latest",
		"index.docker.io/traefik/whoami:1": "docker.io/traefik/whoami:1",
		"ghcr.io/ironlb/speaker:v0.1.0":    "ghcr.io/ironlb/speaker:v0.1.0",
		"127.0.0.1:5000/a/b:c":             "127.0.0.1:5000/a/b:c",
	} {
		tag, err := name.NewTag(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := fullName(tag); got != want {
			t.Errorf("fullName(%q) = %q, want %q", in, got, want)
		}
	}
}
