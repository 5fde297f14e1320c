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
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// WriteTarball writes img as a docker-archive tarball (manifest.json with
// RepoTags), the format `ctr images import`, `kind load image-archive` and
// `docker load` accept. Each tag is a full reference such as
// "docker.io/traefik/whoami:latest"; containerd normalizes short names itself.
// The file appears atomically, so a reader never sees half an archive.
func WriteTarball(path string, img v1.Image, tags ...string) error {
	if len(tags) == 0 {
		return fmt.Errorf("image tarball %s: at least one tag is needed, or the runtime imports it nameless", path)
	}
	refs := make(map[name.Reference]v1.Image, len(tags))
	for _, t := range tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return fmt.Errorf("image tarball %s: tag %q: %w", path, t, err)
		}
		refs[tag] = img
	}
	return atomically(path, func(tmp string) error {
		return tarball.MultiRefWriteToFile(tmp, refs)
	})
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

// refNameAnnotation is the OCI annotation that names an image in a layout's
// index.json; `ctr images import` reads it, and so does skopeo's oci: transport.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout adds img to the OCI image layout at dir (created if missing),
// once per tag, each named by the ref.name annotation.
func WriteLayout(dir string, img v1.Image, tags ...string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
	}
	if len(tags) == 0 {
		tags = []string{""}
	}
	for _, t := range tags {
		var opts []layout.Option
		if t != "" {
			tag, err := name.NewTag(t)
			if err != nil {
				return fmt.Errorf("OCI layout %s: tag %q: %w", dir, t, err)
			}
			opts = append(opts, layout.WithAnnotations(map[string]string{refNameAnnotation: tag.Name()}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
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
