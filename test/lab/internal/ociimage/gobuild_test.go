package ociimage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGoBuildIsStaticAndReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a program")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.26\n",
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hello\") }\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var digests []string
	for _, out := range []string{"a/hello", "b/hello"} {
		bin := filepath.Join(dir, out)
		if err := GoBuild(context.Background(), GoBinary{Dir: dir, Package: ".", Output: bin}); err != nil {
			t.Fatal(err)
		}
		img, err := Build(ForBinary(bin, "/hello"))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		digests = append(digests, d.String())
		if out, err := exec.Command(bin).Output(); err != nil || string(out) != "hello" {
			t.Errorf("running %s: %q, %v", bin, out, err)
		}
		// A static binary has no program interpreter (PT_INTERP).
		if out, _ := exec.Command("readelf", "-l", bin).Output(); strings.Contains(string(out), "interpreter") {
			t.Errorf("%s is dynamically linked", bin)
		}
	}
	img, err := GoImage(context.Background(), GoBinary{Dir: dir, Package: "."}, "/hello", Spec{User: "65532"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	digests = append(digests, d.String())
	if cfg, _ := img.ConfigFile(); cfg.Config.User != "65532" || cfg.Config.Entrypoint[0] != "/hello" {
		t.Errorf("GoImage config: user %q, entrypoint %q", cfg.Config.User, cfg.Config.Entrypoint)
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same source gave images %s and %s", digests[0], digests[1])
	}
	if digests[2] == digests[0] {
		t.Errorf("GoImage with a user gave the same digest as without")
	}
	// A comment changes no code, so it must change no digest.
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(files["main.go"]+"// a comment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commented, err := GoImage(context.Background(), GoBinary{Dir: dir, Package: "."}, "/hello", Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := commented.Digest(); d.String() != digests[0] {
		t.Errorf("adding a comment changed the image from %s to %s", digests[0], d)
	}
	err = GoBuild(context.Background(), GoBinary{Dir: dir, Package: "./missing", Output: filepath.Join(dir, "x")})
	if err == nil || !strings.Contains(err.Error(), "./missing") {
		t.Errorf("building a missing package: %v, want an error naming it", err)
	}
}
