package ociimage_test

import (
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/ironlb/ironlb/test/lab/internal/ociimage"
)

// An image of one static binary plus a writable /tmp, written as an archive
// for `ctr -n k8s.io images import` or `kind load image-archive`.
func Example() {
	dir, err := os.MkdirTemp("", "ociimage-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("stand-in for a static binary"), 0o755); err != nil {
		log.Fatal(err)
	}

	spec := ociimage.ForBinary(bin, "/app")
	spec.User = "65532:65532"
	spec.Files = append(spec.Files, ociimage.File{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777})
	img, err := ociimage.Build(spec)
	if err != nil {
		log.Fatal(err)
	}
	if err := ociimage.WriteTarball(filepath.Join(dir, "app.tar"), img, "ghcr.io/example/app:v1"); err != nil {
		log.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.OS, cfg.Architecture, cfg.Config.User, cfg.Config.Entrypoint)
	// Output: linux amd64 65532:65532 [/app]
}
