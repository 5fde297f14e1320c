package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ironlb/ironlb/test/lab/cluster/registry"
	"github.com/ironlb/ironlb/test/lab/images"
	"github.com/ironlb/ironlb/test/lab/repo"
)

// registryPort is the lab registry's port on the gateway, the usual one.
const registryPort = 5000

// registryNode is the pseudo-node the registry daemon runs under: its own
// cgroup in the lab's subtree, the host's network namespace (the gateway
// address is on the host's bridge).
const registryNode = "registry"

// LabImages builds what the lab serves: the pause and whoami images
// (test/lab/images) and the registry program (test/lab/cluster/registry/cmd).
// It compiles from the IronLB clone the current directory is in; both
// builds are cached, so a second call takes about a second.
func LabImages(ctx context.Context) (imgs []images.Image, registryBin string, err error) {
	imgs, err = images.Build(ctx, "")
	if err != nil {
		return nil, "", err
	}
	cache, err := images.CacheDir()
	if err != nil {
		return nil, "", err
	}
	registryBin = filepath.Join(cache, "bin", "ironlab-registry")
	lab, err := repo.Lab()
	if err != nil {
		return nil, "", err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", registryBin, "./cluster/registry/cmd")
	build.Dir = lab
	out, err := build.CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("building the lab registry: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return imgs, registryBin, nil
}

// registryAddr is where every node's containerd pulls from.
func (s *State) registryAddr() string {
	return netip.AddrPortFrom(s.Plan.Gateway, registryPort).String()
}

// startRegistry runs the registry on the gateway and pushes the lab's
// images to it under the names manifests use. Its manifests live in
// memory: whoever restarts it pushes again.
func (s *State) startRegistry(ctx context.Context, bin string, imgs []images.Image) error {
	if err := s.Cgroups.Ensure(filepath.Join(s.cgroupRel(registryNode), "system")); err != nil {
		return err
	}
	if err := os.MkdirAll(s.nodeRun(registryNode), 0o755); err != nil {
		return err
	}
	d := Daemon{Name: "registry", Args: []string{bin, "--addr", s.registryAddr(), "--dir", filepath.Join(s.Dir, "registry")}}
	if err := s.launchIn(registryNode, "/proc/self/ns/net", d); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := registry.WaitReady(wctx, s.registryAddr()); err != nil {
		return fmt.Errorf("%w; see %s", err, filepath.Join(s.nodeDir(registryNode), "logs", "registry.log"))
	}
	for _, img := range imgs {
		if err := registry.Push(ctx, s.registryAddr(), img.Ref, img.Image); err != nil {
			return fmt.Errorf("pushing %s to the lab registry: %w", img.Ref, err)
		}
	}
	return nil
}

// importImages loads image tarballs into a node's containerd, so that the
// sandbox image is there before the kubelet asks for it.
func (s *State) importImages(ctx context.Context, node string, tarballs []string) error {
	var errs []error
	for _, t := range tarballs {
		out, err := exec.CommandContext(ctx, "ctr", "--address", s.ContainerdSocket(node), "--namespace", "k8s.io",
			"images", "import", "--digests", "--snapshotter=overlayfs", t).CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("importing %s into %s: %w: %s", t, node, err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}

// LoadImageArchive imports an OCI or docker image tarball into every
// node's containerd, as `kind load image-archive` does.
func (s *State) LoadImageArchive(ctx context.Context, file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	errs := make([]error, len(s.Plan.Nodes))
	var wg sync.WaitGroup
	for i, n := range s.Plan.Nodes {
		wg.Go(func() { errs[i] = s.importImages(ctx, n.Name, []string{abs}) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
