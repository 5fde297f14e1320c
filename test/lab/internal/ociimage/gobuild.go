package ociimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// GoBinary says how to compile one static Go program for an image.
type GoBinary struct {
	// Dir is where `go build` runs: inside the module that holds Package.
	Dir string
	// Package is the main package, e.g. "./cmd/controller".
	Package string
	// Output is the binary's path on the host.
	Output string
	// LDFlags are added after "-s -w -buildid=": no symbol tables (smaller
	// images) and no build ID, which hashes the source files, comments
	// included, so an edit that changes no code changes no digest.
	LDFlags string
	// Arch is GOARCH; empty means DefaultArchitecture.
	Arch string
}

// GoBuild compiles b with CGO_ENABLED=0, -trimpath and no VCS stamp, so the
// binary runs in an image without libc and is byte-identical on every build
// of the same source. Go's own build cache makes an unchanged rebuild cheap.
func GoBuild(ctx context.Context, b GoBinary) error {
	arch := b.Arch
	if arch == "" {
		arch = DefaultArchitecture
	}
	if err := os.MkdirAll(filepath.Dir(b.Output), 0o755); err != nil {
		return fmt.Errorf("go build %s: %w", b.Package, err)
	}
	ldflags := strings.TrimSpace("-s -w -buildid= " + b.LDFlags)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", ldflags, "-o", b.Output, b.Package)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", b.Package, b.Dir, err, out.Bytes())
	}
	return nil
}

// GoImage compiles b and returns an image of the binary at inImage, with the
// rest of the image from s (s's Files go beside it; its Entrypoint defaults
// to inImage). An empty b.Output builds into a temporary directory that is
// removed afterwards: the image holds the bytes, and Go's build cache makes
// the next build of unchanged sources cheap.
func GoImage(ctx context.Context, b GoBinary, inImage string, s Spec) (v1.Image, error) {
	if b.Output == "" {
		tmp, err := os.MkdirTemp("", "ironlb-gobuild-")
		if err != nil {
			return nil, fmt.Errorf("go build %s: %w", b.Package, err)
		}
		defer os.RemoveAll(tmp)
		b.Output = filepath.Join(tmp, filepath.Base(inImage))
	}
	if b.Arch == "" {
		b.Arch = s.Architecture
	}
	if s.Architecture == "" {
		s.Architecture = b.Arch
	}
	if err := GoBuild(ctx, b); err != nil {
		return nil, err
	}
	bin := ForBinary(b.Output, inImage)
	s.Files = append(bin.Files, s.Files...)
	if s.Entrypoint == nil {
		s.Entrypoint = bin.Entrypoint
	}
	img, err := Build(s)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", b.Package, err)
	}
	return img, nil
}

// ForBinary returns a Spec for an image that holds only the static binary at
// host path bin, at inImage, as its entrypoint: what distroless/static gives
// minus the CA bundle and tzdata, which IronLB's programs do not read.
// Callers add User, Labels and Cmd.
func ForBinary(bin, inImage string) Spec {
	return Spec{
		Files:      []File{{Path: inImage, Source: bin, Mode: 0o755}},
		Entrypoint: []string{inImage},
	}
}
