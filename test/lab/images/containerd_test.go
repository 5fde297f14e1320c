//go:build e2e

package images

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironlb/ironlb/test/lab/cluster/registry"
)

// TestContainerdImportAndPull checks the images the way the lab uses them,
// against Debian's containerd: `ctr images import` of the tarballs, and a
// pull through a hosts.toml whose `server` is our registry. It starts a
// throwaway containerd (own root, state and socket, CRI off, so no CNI) and
// removes its processes, mounts and files even when it fails.
func TestContainerdImportAndPull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts containerd")
	}
	// make test runs as root and installs containerd (make deps): missing
	// either is a broken setup, not a reason to pass.
	if os.Geteuid() != 0 {
		t.Fatal("containerd needs root: run the tests as root")
	}
	for _, bin := range []string{"containerd", "ctr"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed: run make deps (Debian: apt-get install containerd runc)", bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	imgs, err := Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctr := startContainerd(ctx, t)

	// Pull first, into a namespace of its own, while containerd has none of
	// these blobs: everything must come from the registry.
	regLog := &syncBuffer{}
	addr := startRegistry(ctx, t, regLog)
	hosts := t.TempDir()
	for _, r := range []string{"docker.io", "registry.k8s.io"} {
		if err := os.MkdirAll(filepath.Join(hosts, r), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hosts, r, "hosts.toml"), []byte(registry.HostsTOML(addr)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, img := range imgs {
		if err := registry.Push(ctx, addr, img.Ref, img.Image); err != nil {
			t.Fatal(err)
		}
	}
	for _, img := range imgs {
		if _, err := ctr("pull", "images", "pull", "--hosts-dir", hosts, img.Ref); err != nil {
			t.Errorf("pull %s through the registry: %v", img.Ref, err)
		}
	}
	// containerd resolves with HEAD, naming the registry it stands in for
	// (?ns=), then fetches blobs by digest.
	for _, want := range []string{
		"HEAD /v2/traefik/whoami/manifests/latest?ns=docker.io",
		"GET /v2/traefik/whoami/blobs/",
		"HEAD /v2/pause/manifests/3.10?ns=registry.k8s.io",
	} {
		if !strings.Contains(regLog.String(), want) {
			t.Errorf("the registry never saw %q; its log:\n%s", want, regLog)
		}
	}
	checkImages(t, ctr, "pull", imgs)

	for _, img := range imgs {
		// As the lab does (test/cluster), and as kind load does.
		if _, err := ctr("k8s.io", "images", "import", "--digests", "--snapshotter=overlayfs", img.Tarball); err != nil {
			t.Errorf("import %s: %v", img.Tarball, err)
		}
	}
	checkImages(t, ctr, "k8s.io", imgs)
}

// checkImages fails unless `ctr images ls` in ns lists exactly imgs, each
// with the digest we built: import and pull keep our manifests byte for byte.
func checkImages(t *testing.T, ctr ctrFunc, ns string, imgs []Image) {
	t.Helper()
	out, err := ctr(ns, "images", "ls")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// --digests adds an "import-DATE@DIGEST" name per image; the
		// names that matter are the tags.
		if len(f) >= 3 && f[0] != "REF" && !strings.HasPrefix(f[0], "import-") {
			got[f[0]] = f[2]
		}
	}
	want := map[string]string{}
	for _, img := range imgs {
		want[img.Ref] = img.Digest.String()
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ctr -n %s images ls: got %v, want %v\n%s", ns, got, want, out)
	}
}

// ctrFunc runs ctr against the test's containerd in a namespace.
type ctrFunc func(namespace string, args ...string) (string, error)

// containerdConfig keeps everything of this containerd under dir. CRI is
// off: nothing here starts pods, and it would want CNI. The opt plugin
// would otherwise install into /opt/containerd.
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %[3]q
[ttrpc]
  address = "%[3]s.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
`

// startContainerd runs containerd until the test ends, then stops it and
// removes its mounts and files whatever happened.
func startContainerd(ctx context.Context, t *testing.T) ctrFunc {
	t.Helper()
	// Not t.TempDir: a socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "ironlb-ctr-")
	if err != nil {
		t.Fatal(err)
	}
	root, state, sock := filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "c.sock")
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, containerdConfig, root, state, sock, filepath.Join(dir, "opt")), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, to signal whatever it started; and killed if
	// the test process dies before its cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopGroup(t, cmd)
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("containerd log:\n%s", lastLines(string(b), 40))
			}
		}
		if err := unmountUnder(dir); err != nil {
			t.Errorf("unmounting under %s: %v", dir, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	ctr := func(ns string, args ...string) (string, error) {
		full := append([]string{"--address", sock, "--namespace", ns}, args...)
		c := exec.CommandContext(ctx, "ctr", full...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil {
			return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out), nil
	}
	// containerd is up when ctr can talk to it; a few hundred ms here.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := ctr("default", "version")
		if err == nil {
			return ctr
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("containerd not answering after 20 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopGroup asks containerd to stop, then kills its whole process group.
func stopGroup(t *testing.T, cmd *exec.Cmd) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("containerd still running 10 s after SIGTERM; killing it")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	// Anything else left in the group (none expected: no containers ran).
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err == nil {
		t.Errorf("processes of containerd's group outlived it")
	}
}

// unmountUnder detaches every mount at or below dir, deepest first (the
// overlay snapshotter mounts while unpacking; a crash can leave one).
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// startRegistry serves a registry on a free loopback port until the test ends.
func startRegistry(ctx context.Context, t *testing.T, logTo *syncBuffer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- registry.ServeListener(rctx, ln, registry.Config{Log: log.New(logTo, "", 0)})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("registry: %v", err)
		}
	})
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer the registry's handlers may write to while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
