package images

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles two programs")
	}
	cache := t.TempDir()
	first, err := Build(context.Background(), cache)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	again, err := Build(context.Background(), cache)
	if err != nil {
		t.Fatalf("Build again: %v", err)
	}
	want := []struct {
		ref, file, user string
	}{
		{PauseRef, "pause", "65535:65535"},
		{WhoamiRef, "whoami", ""},
	}
	if len(first) != len(want) {
		t.Fatalf("Build returned %d images, want %d", len(first), len(want))
	}
	for i, w := range want {
		t.Run(w.file, func(t *testing.T) {
			got := first[i]
			if got.Ref != w.ref {
				t.Errorf("ref %q, want %q", got.Ref, w.ref)
			}
			if again[i].Digest != got.Digest || again[i].Tarball != got.Tarball {
				t.Errorf("rebuild gave %s at %s, first build %s at %s", again[i].Digest, again[i].Tarball, got.Digest, got.Tarball)
			}
			tag, _ := name.NewTag(w.ref)
			back, err := tarball.ImageFromPath(got.Tarball, &tag)
			if err != nil {
				t.Fatalf("reading %s back: %v", got.Tarball, err)
			}
			if d, _ := back.Digest(); d != got.Digest {
				t.Errorf("tarball digest %s, want %s", d, got.Digest)
			}
			cfg, err := back.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Config.User != w.user || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/"+w.file {
				t.Errorf("config user %q entrypoint %q, want %q [/%s]", cfg.Config.User, cfg.Config.Entrypoint, w.user, w.file)
			}
			// The layer holds the whole program, not a stub.
			rc := mutate.Extract(back)
			defer rc.Close()
			data, _ := io.ReadAll(rc)
			if len(data) < 1<<20 {
				t.Errorf("image filesystem is %d bytes; want a whole Go binary", len(data))
			}
		})
	}
	if _, err := os.Stat(first[0].Tarball); err != nil {
		t.Error(err)
	}
}
