package ociimage

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// baseSpec is a small image with a host file, inline data and a directory.
func baseSpec(t *testing.T) Spec {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(bin, []byte("#!fake binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Spec{
		Files: []File{
			{Path: "/app", Source: bin},
			{Path: "/etc/app/config", Data: []byte("x=1\n"), Mode: 0o600, UID: 65532, GID: 65532},
			{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		},
		Entrypoint: []string{"/app"},
		Cmd:        []string{"--flag"},
		Env:        []string{"A=b"},
		User:       "65532:65532",
		Labels:     map[string]string{"org.opencontainers.image.source": "https://github.com/ironlb/ironlb"},
	}
}

func digest(t *testing.T, s Spec) v1.Hash {
	t.Helper()
	img, err := Build(s)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildDigestDependsOnlyOnInputs(t *testing.T) {
	base := baseSpec(t)
	want := digest(t, base)
	for _, tc := range []struct {
		name   string
		mutate func(*Spec)
		same   bool
	}{
		{"rebuilt unchanged", func(*Spec) {}, true},
		{"files listed in another order", func(s *Spec) {
			s.Files = []File{s.Files[2], s.Files[0], s.Files[1]}
		}, true},
		{"implicit parent spelt out with its default mode", func(s *Spec) {
			s.Files = append(s.Files, File{Path: "/etc", Mode: fs.ModeDir | 0o755})
		}, true},
		{"source copied elsewhere, same bytes and mode", func(s *Spec) {
			cp := filepath.Join(t.TempDir(), "other-name")
			if err := os.WriteFile(cp, []byte("#!fake binary"), 0o755); err != nil {
				t.Fatal(err)
			}
			s.Files[0].Source = cp
		}, true},
		{"file mode", func(s *Spec) { s.Files[0].Mode = 0o700 }, false},
		{"file owner", func(s *Spec) { s.Files[1].UID = 0 }, false},
		{"file contents", func(s *Spec) { s.Files[1].Data = []byte("x=2\n") }, false},
		{"entrypoint", func(s *Spec) { s.Entrypoint = []string{"/app", "serve"} }, false},
		{"user", func(s *Spec) { s.User = "" }, false},
		{"created", func(s *Spec) { s.Created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"architecture", func(s *Spec) { s.Architecture = "arm64" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec(t)
			tc.mutate(&s)
			if got := digest(t, s); (got == want) != tc.same {
				t.Errorf("digest %s vs base %s: same = %v, want %v", got, want, got == want, tc.same)
			}
		})
	}
}

func TestBuildRejectsBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []File
		want  string
	}{
		{"relative path", []File{{Path: "app", Data: []byte{}}}, "absolute"},
		{"unclean path", []File{{Path: "/a/../app", Data: []byte{}}}, "clean"},
		{"root", []File{{Path: "/", Mode: fs.ModeDir}}, "other than /"},
		{"duplicate", []File{{Path: "/a", Data: []byte{}}, {Path: "/a", Data: []byte{}}}, "twice"},
		{"file under a file", []File{{Path: "/a", Data: []byte{}}, {Path: "/a/b", Data: []byte{}}}, "is a file"},
		{"source and data", []File{{Path: "/a", Source: "/etc/hostname", Data: []byte{}}}, "not both"},
		{"directory with data", []File{{Path: "/d", Mode: fs.ModeDir, Data: []byte{}}}, "directory"},
		{"missing source", []File{{Path: "/a", Source: "/nonexistent/ironlb"}}, "no such file"},
		{"source is a directory", []File{{Path: "/a", Source: "/"}}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(Spec{Files: tc.files})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

type entry struct {
	Mode     int64
	UID, GID int
	Data     string
	Dir      bool
}

// readLayer lists the only layer of img.
func readLayer(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want exactly 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = entry{Mode: h.Mode, UID: h.Uid, GID: h.Gid, Data: string(data), Dir: h.Typeflag == tar.TypeDir}
	}
}

func TestTarballRoundTrip(t *testing.T) {
	img, err := Build(baseSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out", "app.tar")
	tags := []string{"ghcr.io/ironlb/app:v1", "traefik/whoami"}
	if err := WriteTarball(path, img, tags...); err != nil {
		t.Fatalf("WriteTarball: %v", err)
	}
	for _, tag := range tags {
		t.Run(tag, func(t *testing.T) {
			ref, _ := name.NewTag(tag)
			back, err := tarball.ImageFromPath(path, &ref)
			if err != nil {
				t.Fatalf("ImageFromPath: %v", err)
			}
			wantDigest, _ := img.Digest()
			if d, _ := back.Digest(); d != wantDigest {
				t.Errorf("digest read back %s, want %s", d, wantDigest)
			}
			cfg, err := back.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			gotCfg := struct {
				OS, Arch, User string
				Entry, Cmd     []string
			}{cfg.OS, cfg.Architecture, cfg.Config.User, cfg.Config.Entrypoint, cfg.Config.Cmd}
			wantCfg := struct {
				OS, Arch, User string
				Entry, Cmd     []string
			}{"linux", "amd64", "65532:65532", []string{"/app"}, []string{"--flag"}}
			if diff := cmp.Diff(wantCfg, gotCfg); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			want := map[string]entry{
				"app":            {Mode: 0o755, Data: "#!fake binary"},
				"etc/":           {Mode: 0o755, Dir: true},
				"etc/app/":       {Mode: 0o755, Dir: true},
				"etc/app/config": {Mode: 0o600, UID: 65532, GID: 65532, Data: "x=1\n"},
				"tmp/":           {Mode: 0o1777, Dir: true},
			}
			if diff := cmp.Diff(want, readLayer(t, back)); diff != "" {
				t.Errorf("layer (-want +got):\n%s", diff)
			}
		})
	}
	first, _ := os.ReadFile(path)
	again, _ := Build(baseSpec(t))
	if err := WriteTarball(path, again, tags...); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(path); string(second) != string(first) {
		t.Error("the same image written twice gave different archives")
	}
	if err := WriteTarball(path, img); err == nil {
		t.Error("WriteTarball without a tag succeeded; want an error")
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	img, err := Build(baseSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(dir, img, "registry.k8s.io/pause:3.10"); err != nil {
		t.Fatalf("WriteLayout: %v", err)
	}
	p, err := layout.FromPath(dir)
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
	wantDigest, _ := img.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != wantDigest ||
		m.Manifests[0].Annotations[containerdNameAnnotation] != "registry.k8s.io/pause:3.10" ||
		m.Manifests[0].Annotations[refNameAnnotation] != "3.10" {
		t.Errorf("index.json manifests = %+v, want one %s named registry.k8s.io/pause:3.10", m.Manifests, wantDigest)
	}
}

func TestPushToRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	img, err := Build(baseSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/ironlb/app:v1"
	if err := Push(context.Background(), ref, img); err != nil {
		t.Fatalf("Push: %v", err)
	}
	r, _ := name.ParseReference(ref)
	got, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling back: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled digest %s, want %s", d, want)
	}
}
