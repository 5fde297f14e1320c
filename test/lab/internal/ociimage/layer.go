package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one entry of the image's only layer.
type File struct {
	// Path inside the image: absolute and clean, e.g. "/pause".
	Path string
	// Source is a file on the host whose contents become Path's. At most one
	// of Source and Data; neither (with Mode&fs.ModeDir) makes a directory.
	Source string
	// Data is the contents, for small files written by the caller (/etc/passwd).
	Data []byte
	// Mode holds the permission bits (setuid, setgid and sticky included) and
	// fs.ModeDir for directories. Zero means 0o755 for directories, the host
	// file's permissions for Source and 0o644 for Data.
	Mode fs.FileMode
	// UID and GID own the entry; parents the caller does not list are root's.
	UID, GID int
}

func (f File) isDir() bool { return f.Mode&fs.ModeDir != 0 }

// dirMode is what parents the caller does not list get: what Docker gives
// directories in a scratch image.
const dirMode = 0o755

// layer packs files into a deterministic tar layer: entries sorted by path,
// parents made implicitly, every timestamp set to mtime, no user or group
// names, so equal inputs give an equal digest on any machine.
func layer(files []File, mtime time.Time) (v1.Layer, error) {
	entries, err := normalize(files)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range entries {
		if err := writeEntry(tw, f, mtime); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer tar: %w", err)
	}
	data := buf.Bytes()
	// The opener is called for the digest, the diff ID and every upload;
	// caching the gzip output keeps compression to once.
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("making layer: %w", err)
	}
	return l, nil
}

// normalize validates files, reads host sources, fills default modes, adds
// missing parent directories and sorts everything by path.
func normalize(files []File) ([]File, error) {
	byPath := map[string]File{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("image path %q: want an absolute, clean path other than /", f.Path)
		}
		if _, dup := byPath[f.Path]; dup {
			return nil, fmt.Errorf("image path %q listed twice", f.Path)
		}
		nf, err := resolve(f)
		if err != nil {
			return nil, err
		}
		byPath[f.Path] = nf
	}
	for p, f := range byPath {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			parent, ok := byPath[dir]
			if !ok {
				byPath[dir] = File{Path: dir, Mode: fs.ModeDir | dirMode}
				continue
			}
			if !parent.isDir() {
				return nil, fmt.Errorf("image path %q: parent %q is a file", f.Path, dir)
			}
		}
	}
	out := make([]File, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// resolve reads a Source into Data and fills the default mode.
func resolve(f File) (File, error) {
	switch {
	case f.isDir():
		if f.Source != "" || f.Data != nil {
			return File{}, fmt.Errorf("image path %q: a directory takes no Source or Data", f.Path)
		}
		if f.Mode.Perm() == 0 {
			f.Mode |= dirMode
		}
		return f, nil
	case f.Source != "" && f.Data != nil:
		return File{}, fmt.Errorf("image path %q: set Source or Data, not both", f.Path)
	case f.Source != "":
		fi, err := os.Stat(f.Source)
		if err != nil {
			return File{}, fmt.Errorf("image path %q: %w", f.Path, err)
		}
		if !fi.Mode().IsRegular() {
			return File{}, fmt.Errorf("image path %q: source %s is not a regular file", f.Path, f.Source)
		}
		data, err := os.ReadFile(f.Source)
		if err != nil {
			return File{}, fmt.Errorf("image path %q: %w", f.Path, err)
		}
		if f.Mode == 0 {
			f.Mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		f.Source, f.Data = "", data
		return f, nil
	default:
		if f.Mode == 0 {
			f.Mode = 0o644
		}
		if f.Data == nil {
			f.Data = []byte{}
		}
		return f, nil
	}
}

func writeEntry(tw *tar.Writer, f File, mtime time.Time) error {
	h := &tar.Header{
		Name:    strings.TrimPrefix(f.Path, "/"),
		Mode:    tarMode(f.Mode),
		Uid:     f.UID,
		Gid:     f.GID,
		ModTime: mtime,
		Format:  tar.FormatPAX,
	}
	if f.isDir() {
		h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
	} else {
		h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("layer entry %s: %w", f.Path, err)
	}
	if _, err := tw.Write(f.Data); err != nil {
		return fmt.Errorf("layer entry %s: %w", f.Path, err)
	}
	return nil
}

// tarMode turns Go's mode bits into the Unix bits tar stores.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	for _, b := range []struct {
		goBit  fs.FileMode
		tarBit int64
	}{{fs.ModeSetuid, 0o4000}, {fs.ModeSetgid, 0o2000}, {fs.ModeSticky, 0o1000}} {
		if m&b.goBit != 0 {
			mode |= b.tarBit
		}
	}
	return mode
}
