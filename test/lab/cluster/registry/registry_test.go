package registry

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ironlb/ironlb/test/lab/internal/ociimage"
)

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// start runs Serve until the test ends and checks it stopped cleanly.
func start(t *testing.T, addr string, cfg Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, cfg) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := WaitReady(wctx, addr); err != nil {
		cancel()
		t.Fatalf("registry never ready: %v (Serve: %v)", err, <-done)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func testImage() ociimage.Spec {
	return ociimage.Spec{
		Files:      []ociimage.File{{Path: "/hello", Data: []byte("hello"), Mode: 0o755}},
		Entrypoint: []string{"/hello"},
	}
}

func TestPushPullRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  bool
	}{{"blobs in memory", false}, {"blobs on disk", true}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			cfg := Config{}
			if tc.dir {
				cfg.Dir = filepath.Join(t.TempDir(), "blobs")
			}
			start(t, addr, cfg)
			img, err := ociimage.Build(testImage())
			if err != nil {
				t.Fatal(err)
			}
			if err := Push(context.Background(), addr, "docker.io/traefik/whoami:latest", img); err != nil {
				t.Fatalf("Push: %v", err)
			}
			ref, _ := name.ParseReference(addr + "/traefik/whoami:latest")
			got, err := remote.Image(ref)
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			want, _ := img.Digest()
			if d, _ := got.Digest(); d != want {
				t.Errorf("pulled %s, pushed %s", d, want)
			}
			// Pulling means reading every blob, not only the manifest.
			layers, _ := got.Layers()
			for _, l := range layers {
				rc, err := l.Compressed()
				if err != nil {
					t.Fatalf("layer: %v", err)
				}
				rc.Close()
			}
			if tc.dir {
				entries, _ := os.ReadDir(filepath.Join(cfg.Dir, "sha256"))
				if len(entries) != 3 {
					t.Errorf("%d blobs on disk, want 3 (manifest, config and layer)", len(entries))
				}
			}
		})
	}
}

// TestImagesSurviveRestart: with a directory, a restarted registry serves
// what was pushed before, minus what was deleted, and its journal is compacted.
func TestImagesSurviveRestart(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	stop := start(t, addr, Config{Dir: dir})
	img, err := ociimage.Build(testImage())
	if err != nil {
		t.Fatal(err)
	}
	other, err := ociimage.Build(ociimage.Spec{Files: []ociimage.File{{Path: "/other", Data: []byte("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range []struct {
		ref string
		img v1.Image
	}{
		{"ghcr.io/ironlb/x:v1", other}, // overwritten below
		{"ghcr.io/ironlb/x:v1", img},
		{"ghcr.io/ironlb/gone:v1", img},
		{"docker.io/traefik/whoami:latest", img},
	} {
		if err := Push(ctx, addr, p.ref, p.img); err != nil {
			t.Fatal(err)
		}
	}
	del, _ := name.ParseReference(addr + "/ironlb/gone:v1")
	if err := remote.Delete(del); err != nil {
		t.Fatalf("delete: %v", err)
	}
	stop()
	// A crash mid-append leaves half a line; the records before it stand.
	f, err := os.OpenFile(filepath.Join(dir, journalFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"repo":"half`)
	f.Close()

	start(t, addr, Config{Dir: dir})
	want, _ := img.Digest()
	for _, tc := range []struct {
		ref     string
		present bool
	}{
		{"ironlb/x:v1", true},
		{"traefik/whoami:latest", true},
		{"ironlb/gone:v1", false},
	} {
		r, _ := name.ParseReference(addr + "/" + tc.ref)
		desc, err := remote.Head(r)
		switch {
		case tc.present && err != nil:
			t.Errorf("%s after restart: %v", tc.ref, err)
		case tc.present && desc.Digest != want:
			t.Errorf("%s after restart is %s, want %s", tc.ref, desc.Digest, want)
		case !tc.present && err == nil:
			t.Errorf("%s was deleted but is served after restart", tc.ref)
		}
	}
	recs, err := readJournal(filepath.Join(dir, journalFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Errorf("compacted journal has %d records, want 2: %+v", len(recs), recs)
	}
}

func TestManifestPath(t *testing.T) {
	for _, tc := range []struct {
		path, repo, ref string
		ok              bool
	}{
		{"/v2/traefik/whoami/manifests/latest", "traefik/whoami", "latest", true},
		{"/v2/pause/manifests/sha256:abc", "pause", "sha256:abc", true},
		{"/v2/a/b/c/manifests/1", "a/b/c", "1", true},
		{"/v2/pause/blobs/sha256:abc", "", "", false},
		{"/v2/manifests/x", "", "", false},
		{"/v2/", "", "", false},
	} {
		repo, ref, ok := manifestPath(tc.path)
		if repo != tc.repo || ref != tc.ref || ok != tc.ok {
			t.Errorf("manifestPath(%q) = %q, %q, %v; want %q, %q, %v", tc.path, repo, ref, ok, tc.repo, tc.ref, tc.ok)
		}
	}
}

func TestServeFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Serve(context.Background(), ln.Addr().String(), Config{}); err == nil {
		t.Error("Serve on a busy address returned nil")
	}
}

func TestMirrorRef(t *testing.T) {
	const addr = "172.20.0.1:5000"
	for _, tc := range []struct{ ref, want string }{
		{"docker.io/traefik/whoami:latest", addr + "/traefik/whoami:latest"},
		{"traefik/whoami", addr + "/traefik/whoami:latest"},
		{"nginx", addr + "/library/nginx:latest"},
		{"registry.k8s.io/pause:3.10", addr + "/pause:3.10"},
		{"ghcr.io/ironlb/controller:v0.1.0", addr + "/ironlb/controller:v0.1.0"},
		{"quay.io/a/b@sha256:" + sha, addr + "/a/b@sha256:" + sha},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := MirrorRef(addr, tc.ref)
			if err != nil || got != tc.want {
				t.Errorf("MirrorRef(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
		})
	}
	if _, err := MirrorRef(addr, "UPPER/case"); err == nil {
		t.Error("MirrorRef accepted an invalid reference")
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
