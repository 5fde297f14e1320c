package registry

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ironlb/ironlb/internal/ociimage"
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
				if len(entries) != 2 { // config + layer
					t.Errorf("%d blobs on disk, want 2 (config and layer)", len(entries))
				}
			}
		})
	}
}

// TestBlobsSurviveRestart: on disk, a restarted registry still has the
// layers, so the lab re-pushes manifests only.
func TestBlobsSurviveRestart(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	stop := start(t, addr, Config{Dir: dir})
	img, err := ociimage.Build(testImage())
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(context.Background(), addr, "ghcr.io/ironlb/x:v1", img); err != nil {
		t.Fatal(err)
	}
	stop()
	start(t, addr, Config{Dir: dir})
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	resp, err := http.Head("http://" + addr + "/v2/ironlb/x/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD layer after restart: %s, want 200", resp.Status)
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
