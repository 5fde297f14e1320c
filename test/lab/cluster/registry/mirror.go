package registry

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ironlb/ironlb/test/lab/internal/ociimage"
)

// MirrorRef says where ref lives in the registry at addr when that registry
// stands in for ref's own (containerd's hosts.toml `server`): same repository
// path and tag or digest, another host. Docker Hub's official images keep
// their "library/" prefix, as containerd asks for them:
//
//	docker.io/traefik/whoami:latest → ADDR/traefik/whoami:latest
//	nginx                           → ADDR/library/nginx:latest
//	registry.k8s.io/pause:3.10      → ADDR/pause:3.10
//
// One registry mirrors several, so docker.io/x/y and ghcr.io/x/y share a name.
func MirrorRef(addr, ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("mirror reference for %q: %w", ref, err)
	}
	repo := addr + "/" + r.Context().RepositoryStr()
	if d, ok := r.(name.Digest); ok {
		return repo + "@" + d.DigestStr(), nil
	}
	return repo + ":" + r.Identifier(), nil
}

// Push uploads img to the registry at addr under MirrorRef(addr, ref), so a
// node whose containerd mirrors ref's registry to addr pulls it as ref.
func Push(ctx context.Context, addr, ref string, img v1.Image) error {
	m, err := MirrorRef(addr, ref)
	if err != nil {
		return err
	}
	return ociimage.Push(ctx, m, img)
}

// HostsTOML is a containerd hosts.toml (config_path/REGISTRY/hosts.toml) that
// sends every pull and resolve for that registry to the plain-HTTP registry
// at addr. It must be `server`: containerd falls back to the public
// registry after the hosts listed under [host].
func HostsTOML(addr string) string {
	return fmt.Sprintf("server = \"http://%[1]s\"\n\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", addr)
}
