// Package images builds the images IronLB's lab needs and cannot pull: the
// pod sandbox (pause) and a whoami stand-in, compiled from ./pause and
// ./whoami, tagged with the names kubelets and the seed's manifests ask for.
package images

import (
	"context"
	"fmt"
	"github.com/ironlb/ironlb/test/cache"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ironlb/ironlb/test/lab/internal/ociimage"
	"github.com/ironlb/ironlb/test/lab/repo"
)

// The references the lab's nodes ask for. containerd normalizes the seed's
// short "traefik/whoami" to WhoamiRef itself.
const (
	// PauseRef is the pod sandbox image: the lab's containerd config must
	// name it as sandbox_image (containerd 1.6 would ask for pause:3.6).
	PauseRef  = "registry.k8s.io/pause:3.10"
	WhoamiRef = "docker.io/traefik/whoami:latest"
)

// Image is one built image, in memory (to push) and as a docker-archive
// tarball (to `ctr -n k8s.io images import` into a node).
type Image struct {
	Ref     string
	Image   v1.Image
	Digest  v1.Hash
	Tarball string
}

// sourceLabel tells whoever inspects a lab image where it came from.
const sourceLabel = "org.opencontainers.image.source"

// imageDef is how one lab image is made.
type imageDef struct {
	name    string // cache file prefix and binary name
	pkg     string // main package, relative to this package's directory
	ref     string
	spec    ociimage.Spec
	inImage string
}

func defs() []imageDef {
	return []imageDef{{
		name: "pause", pkg: "./pause", ref: PauseRef, inImage: "/pause",
		spec: ociimage.Spec{
			// registry.k8s.io/pause runs as 65535 too; it needs no privilege.
			User:   "65535:65535",
			Labels: map[string]string{sourceLabel: "https://github.com/ironlb/ironlb/tree/main/test/lab/images/pause"},
		},
	}, {
		name: "whoami", pkg: "./whoami", ref: WhoamiRef, inImage: "/whoami",
		spec: ociimage.Spec{
			// Root, like traefik/whoami, so the default port 80 binds.
			ExposedPorts: []string{"80/tcp"},
			Labels: map[string]string{
				sourceLabel:                            "https://github.com/ironlb/ironlb/tree/main/test/lab/images/whoami",
				"org.opencontainers.image.description": "IronLB's stand-in for traefik/whoami (not traefik/whoami)",
			},
		},
	}}
}

// Build compiles pause and whoami for this machine's architecture and
// returns their images, pause first. Tarballs live under
// cacheDir/images/ (cacheDir "" means CacheDir()), named by image digest and
// archive format: an unchanged image is never rewritten, a changed one gets
// a new file.
// It must run inside an IronLB clone with the go command on PATH.
func Build(ctx context.Context, cacheDir string) ([]Image, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	dir, err := sourceDir(ctx)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, d := range defs() {
		d.spec.Architecture = runtime.GOARCH
		img, err := ociimage.GoImage(ctx, ociimage.GoBinary{Dir: dir, Package: d.pkg}, d.inImage, d.spec)
		if err != nil {
			return nil, fmt.Errorf("lab image %s: %w", d.ref, err)
		}
		built, err := storeTarball(cacheDir, d.name, d.ref, img)
		if err != nil {
			return nil, err
		}
		out = append(out, built)
	}
	return out, nil
}

// storeTarball writes img's tarball unless one with its digest is already there.
func storeTarball(cacheDir, name, ref string, img v1.Image) (Image, error) {
	digest, err := img.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("lab image %s: %w", ref, err)
	}
	path := filepath.Join(cacheDir, "images", fmt.Sprintf("%s-%s-a%s.tar", name, digest.Hex[:16], ociimage.ArchiveVersion))
	if _, err := os.Stat(path); err != nil {
		if err := ociimage.WriteTarball(path, img, ref); err != nil {
			return Image{}, fmt.Errorf("lab image %s: %w", ref, err)
		}
	}
	return Image{Ref: ref, Image: img, Digest: digest, Tarball: path}, nil
}

// CacheDir is ${IRONLB_CACHE:-$HOME/.cache/ironlb}: outside the clone, so a
// fresh clone on a machine that built once pays nothing (as the Makefile).
func CacheDir() (string, error) { return cache.Dir() }

// sourceDir is where ./pause and ./whoami are: this package's directory
// in the clone the lab runs from.
func sourceDir(context.Context) (string, error) {
	lab, err := repo.Lab()
	if err != nil {
		return "", fmt.Errorf("finding the image sources: %w", err)
	}
	return filepath.Join(lab, "images"), nil
}
