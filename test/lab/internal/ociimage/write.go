package ociimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// WriteTarball writes img as an image archive that `ctr images import`,
// `kind load image-archive` and `docker load` accept: a docker-archive
// (manifest.json with RepoTags) that is also an OCI layout, so containerd
// keeps img's digest (see writeArchive). Each tag is a reference such as
// "docker.io/traefik/whoami:latest" or "traefik/whoami:latest"; it is stored
// fully qualified. The file appears atomically, so a reader never sees half
// an archive.
func WriteTarball(path string, img v1.Image, tags ...string) error {
	if len(tags) == 0 {
		return fmt.Errorf("image tarball %s: at least one tag is needed, or the runtime imports it nameless", path)
	}
	parsed, err := parseTags(tags)
	if err != nil {
		return fmt.Errorf("image tarball %s: %w", path, err)
	}
	return atomically(path, func(tmp string) error {
		f, err := os.Create(tmp)
		if err != nil {
			return err
		}
		if err := writeArchive(f, img, parsed); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

func parseTags(tags []string) ([]name.Tag, error) {
	out := make([]name.Tag, 0, len(tags))
	for _, t := range tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", t, err)
		}
		out = append(out, tag)
	}
	return out, nil
}

// atomically lets write fill a temporary file next to path, then renames it.
func atomically(path string, write func(tmp string) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("image tarball %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("image tarball %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image tarball %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image tarball %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image tarball %s: %w", path, err)
	}
	return nil
}

// WriteLayout adds img to the OCI image layout at dir (created if missing),
// once per tag, named as in WriteTarball's index.json.
func WriteLayout(dir string, img v1.Image, tags ...string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
	}
	parsed, err := parseTags(tags)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if len(parsed) == 0 {
		if err := p.AppendImage(img); err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
	}
	for _, t := range parsed {
		ann := map[string]string{containerdNameAnnotation: fullName(t), refNameAnnotation: t.TagStr()}
		if err := p.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
			return fmt.Errorf("OCI layout %s: adding %s: %w", dir, t, err)
		}
	}
	return nil
}

// Push uploads img as ref ("127.0.0.1:5000/traefik/whoami:latest"). Plain
// HTTP is used for loopback, RFC 1918 and *.local registries, which is where
// the lab's registry lives; anything else is spoken to over TLS.
func Push(ctx context.Context, ref string, img v1.Image) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("push %q: %w", ref, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}
