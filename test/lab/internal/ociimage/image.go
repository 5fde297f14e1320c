// Package ociimage builds single-layer container images from files without a
// Docker engine, and writes them where containerd, kind and registries take them.
// Equal inputs give equal digests: every timestamp comes from the Spec.
package ociimage

import (
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Spec describes an image: one layer of Files plus the runtime config.
type Spec struct {
	Files []File
	// Entrypoint and Cmd as in a Dockerfile's exec form.
	Entrypoint, Cmd []string
	// Env holds KEY=VALUE pairs.
	Env []string
	// User is "uid" or "uid:gid"; numeric, so the kubelet can enforce
	// runAsNonRoot without an /etc/passwd in the image. Empty means root.
	User       string
	WorkingDir string
	Labels     map[string]string
	// ExposedPorts like "80/tcp"; documentation only, as in Docker.
	ExposedPorts []string
	// Architecture is GOARCH's spelling; empty means amd64. OS is always linux.
	Architecture string
	// Created stamps the config, the history and every file. The zero value
	// means the Unix epoch, as ko and Bazel do, so digests depend on content only.
	Created time.Time
}

// DefaultArchitecture is the platform images are for unless the Spec says.
const DefaultArchitecture = "amd64"

// Build assembles the image in memory. Source files are read now, so they may
// change or vanish afterwards.
func Build(s Spec) (v1.Image, error) {
	created := s.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()
	arch := s.Architecture
	if arch == "" {
		arch = DefaultArchitecture
	}
	l, err := layer(s.Files, created)
	if err != nil {
		return nil, err
	}
	cfg := &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			Entrypoint: s.Entrypoint,
			Cmd:        s.Cmd,
			Env:        s.Env,
			User:       s.User,
			WorkingDir: s.WorkingDir,
			Labels:     s.Labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	if len(s.ExposedPorts) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range s.ExposedPorts {
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting image config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   l,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "ironlb ociimage"},
	})
	if err != nil {
		return nil, fmt.Errorf("adding layer: %w", err)
	}
	return img, nil
}
