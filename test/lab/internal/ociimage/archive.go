package ociimage

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations that name an image in an OCI layout: containerd's import reads
// the full name from the first, the OCI spec keeps only the tag in the second.
const (
	containerdNameAnnotation = "io.containerd.image.name"
	refNameAnnotation        = "org.opencontainers.image.ref.name"
)

// ArchiveVersion changes whenever WriteTarball's output for the same image
// changes, for callers that cache archives by image digest.
const ArchiveVersion = "2"

// writeArchive writes img as `docker save` (Docker 25+) does: an OCI image
// layout (oci-layout, index.json, blobs/sha256/...) and, for older readers,
// a docker-archive manifest.json whose paths point into the same blobs.
// containerd imports it through index.json and so keeps img's manifest and
// digest byte for byte (from manifest.json alone it would write a manifest
// of its own, with another digest); kind, docker load and go-containerregistry's
// tarball package read it too. Entries are sorted and stamped with the epoch,
// so the archive is as reproducible as the image.
func writeArchive(w io.Writer, img v1.Image, tags []name.Tag) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("media type: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	configName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("config digest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}

	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	docker := tarball.Descriptor{Config: blobPath(configName)}
	for _, t := range tags {
		index.Manifests = append(index.Manifests, v1.Descriptor{
			MediaType: mediaType, Size: int64(len(manifest)), Digest: digest,
			Annotations: map[string]string{containerdNameAnnotation: fullName(t), refNameAnnotation: t.TagStr()},
		})
		docker.RepoTags = append(docker.RepoTags, fullName(t))
	}
	blobs := map[v1.Hash]func(io.Writer) error{
		digest:     bytesWriter(manifest),
		configName: bytesWriter(config),
	}
	sizes := map[v1.Hash]int64{digest: int64(len(manifest)), configName: int64(len(config))}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("layer digest: %w", err)
		}
		if sizes[d], err = l.Size(); err != nil {
			return fmt.Errorf("layer %s size: %w", d, err)
		}
		docker.Layers = append(docker.Layers, blobPath(d))
		blobs[d] = func(w io.Writer) error {
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(w, rc)
			return err
		}
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	dockerJSON, err := json.Marshal(tarball.Manifest{docker})
	if err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}

	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch(), Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	hashes := make([]v1.Hash, 0, len(blobs))
	for h := range blobs {
		hashes = append(hashes, h)
	}
	sort.Slice(hashes, func(i, j int) bool { return hashes[i].String() < hashes[j].String() })
	for _, h := range hashes {
		if err := writeTarFile(tw, blobPath(h), sizes[h], blobs[h]); err != nil {
			return fmt.Errorf("blob %s: %w", h, err)
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"index.json", indexJSON},
		{"manifest.json", dockerJSON},
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	} {
		if err := writeTarFile(tw, f.name, int64(len(f.data)), bytesWriter(f.data)); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return tw.Close()
}

// epoch stamps archive entries: the archive carries no build time.
func epoch() time.Time { return time.Unix(0, 0) }

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

func bytesWriter(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

func writeTarFile(tw *tar.Writer, name string, size int64, write func(io.Writer) error) error {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: epoch(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	return write(tw)
}

// fullName spells t as containerd stores image names: registry, repository
// and tag, with Docker Hub as docker.io (not go-containerregistry's
// index.docker.io) and its official images under library/.
func fullName(t name.Tag) string {
	reg := t.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
}
