// Command images builds IronLB's controller and speaker images without
// Docker: static binaries in otherwise empty images, written as image
// archives (docker-archive + OCI layout) that `ironlab load image-archive`,
// `kind load image-archive`, `ctr images import` and `docker load` take.
// `make images` runs it from the repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ironlb/ironlb/test/lab/internal/ociimage"
	"github.com/ironlb/ironlb/test/lab/repo"
)

// component is one of IronLB's images.
type component struct {
	name string // binary, in-image path and archive name
	// user: the controller needs no privilege and runs as distroless's
	// "nonroot" (65532), so its pod passes the "restricted" Pod Security
	// level; the speaker runs as root because it sends raw ARP/NDP frames
	// (NET_RAW, granted by the chart) on the host network.
	user string
}

func components() []component {
	return []component{{name: "controller", user: "65532:65532"}, {name: "speaker"}}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run() error {
	version := flag.String("version", "dev", "version stamped into the binaries and the image labels")
	tags := flag.String("tags", "", "comma-separated image tags (default: the version)")
	repository := flag.String("repository", "ghcr.io/ironlb", "image repository prefix: PREFIX/controller:TAG")
	out := flag.String("out", "bin/images", "directory for ironlb-controller.tar and ironlb-speaker.tar")
	arch := flag.String("arch", ociimage.DefaultArchitecture, "GOARCH of the images")
	flag.Parse()
	tagList := splitList(*tags)
	if len(tagList) == 0 {
		tagList = []string{*version}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root, err := repo.Root()
	if err != nil {
		return err
	}
	for _, c := range components() {
		refs := make([]string, 0, len(tagList))
		for _, t := range tagList {
			refs = append(refs, fmt.Sprintf("%s/%s:%s", *repository, c.name, t))
		}
		img, err := ociimage.GoImage(ctx, ociimage.GoBinary{
			Dir:     root,
			Package: "./cmd/" + c.name,
			LDFlags: "-X main.version=" + *version,
			Arch:    *arch,
		}, "/"+c.name, spec(c, *version, *arch))
		if err != nil {
			return err
		}
		path := filepath.Join(*out, "ironlb-"+c.name+".tar")
		if err := ociimage.WriteTarball(path, img, refs...); err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Printf("✓ %s %s → %s (%.1f MB)\n", strings.Join(refs, ", "), digest, path, float64(fi.Size())/1e6)
	}
	return nil
}

func spec(c component, version, arch string) ociimage.Spec {
	return ociimage.Spec{
		// A world-writable /tmp, as distroless has: the controller writes its
		// webhook certificate under /tmp/k8s-webhook-server by default.
		Files:        []ociimage.File{{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777}},
		User:         c.user,
		Architecture: arch,
		Labels: map[string]string{
			"org.opencontainers.image.title":   "ironlb-" + c.name,
			"org.opencontainers.image.source":  "https://github.com/ironlb/ironlb",
			"org.opencontainers.image.version": version,
		},
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
