package layer2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadExcludeL2(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	re, err := LoadExcludeL2(write("ok.yaml", "announcedInterfacesToExclude:\n- ^dummy.*\n- ^virbr.*\n- ^bond0\\.100$\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"dummy0": true, "virbr1": true, "bond0.100": true, "bond0": false, "eth0": false, "mydummy": false} {
		if got := excludedName(name, re); got != want {
			t.Errorf("%s excluded = %v, want %v", name, got, want)
		}
	}
	if got := excludedName("veth123", nil); !got {
		t.Error("the built-in exclusions no longer apply without a file")
	}

	if re, err := LoadExcludeL2(filepath.Join(dir, "absent.yaml")); re != nil || err != nil {
		t.Errorf("a missing file: %v, %v; want nothing excluded and no error", re, err)
	}
	for name, tc := range map[string]struct{ content, want string }{
		"bad regexp":  {"announcedInterfacesToExclude:\n- '^eth[0'\n", `"^eth[0"`},
		"unknown key": {"announcedInterfacesToExclud:\n- ^eth1$\n", "unknown field"},
	} {
		_, err := LoadExcludeL2(write(name+".yaml", tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name+".yaml") {
			t.Errorf("%s: %v, want an error naming the file and %s", name, err, tc.want)
		}
	}
}
