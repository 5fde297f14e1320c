//go:build e2e

package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestGitOpsRenderTwice installs IronLB the GitOps way, `helm template |
// kubectl apply` with no Helm release, renders and applies it again, and
// restarts every speaker (a re-render's rollout): the memberlist key stays
// (the controller made it once; nothing random is rendered), every
// restarted speaker joins all the others, and each VIP has one announcer.
func TestGitOpsRenderTwice(t *testing.T) {
	ctx := context.Background()
	root := repoRoot(t)
	loadImages(t, ctx)

	render := func() string {
		t.Helper()
		out, err := helm(t, "template", releaseName, "charts/ironlb", "-n", releaseNS)
		if err != nil {
			t.Fatalf("helm template: %v\n%s", err, out)
		}
		p := filepath.Join(t.TempDir(), "ironlb.yaml")
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apply := func(p string) {
		t.Helper()
		// Server-side: the CRDs are too large for kubectl's last-applied annotation.
		if out, err := kubectl("apply", "--server-side", "--force-conflicts", "-n", releaseNS, "-f", p); err != nil {
			t.Fatalf("kubectl apply: %v\n%s", err, out)
		}
	}
	first := render()
	t.Cleanup(func() {
		removeSeedAndRelease(t, root, false)
		_, _ = kubectl("delete", "--ignore-not-found", "--wait", "--timeout=2m", "-n", releaseNS, "-f", first)
		if err := poll(2*time.Minute, func() error { return namespaceGone(ctx, releaseNS) }); err != nil {
			t.Errorf("namespace %s: %v", releaseNS, err)
		}
	})
	if out, err := kubectl("create", "namespace", releaseNS); err != nil {
		t.Fatalf("creating the namespace: %v\n%s", err, out)
	}
	apply(first)
	if err := poll(3*time.Minute, func() error { return workloadsReady(ctx) }); err != nil {
		t.Fatalf("after the first apply: %v", err)
	}
	ips := applySeed(t, ctx, root)
	key := memberlistKey(t, ctx)

	second := render()
	if a, b := readFile(t, first), readFile(t, second); a != b {
		t.Error("two renders of the same chart and values differ: something random is rendered")
	}
	apply(second)
	start := time.Now()
	if out, err := kubectl("-n", releaseNS, "rollout", "restart", "daemonset/"+releaseName+"-speaker"); err != nil {
		t.Fatalf("rollout restart: %v\n%s", err, out)
	}
	if out, err := kubectl("-n", releaseNS, "rollout", "status", "daemonset/"+releaseName+"-speaker", "--timeout=3m"); err != nil {
		t.Fatalf("rollout status: %v\n%s", err, out)
	}
	if err := poll(2*time.Minute, func() error { return workloadsReady(ctx) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("speakers restarted and Ready in %.1fs", time.Since(start).Seconds())
	if k := memberlistKey(t, ctx); k != key {
		t.Error("re-rendering and re-applying changed the memberlist key")
	}

	// Every new speaker settled with every node a member.
	pods, err := theLab.cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=speaker"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if err := poll(time.Minute, func() error {
			out, err := kubectl("logs", "-n", releaseNS, p.Name)
			if err != nil {
				return err
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, `"membership settled"`) {
					for _, n := range theLab.st.Plan.Nodes {
						if !strings.Contains(l, `"`+n.Name+`"`) {
							t.Errorf("%s settled without %s: %s", p.Name, n.Name, l)
						}
					}
					return nil
				}
			}
			return errNotYet
		}); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	for svc, ip := range ips {
		checkAnnounced(t, ctx, svc, ip) // one ServiceL2Status, one MAC answering
	}
}

var errNotYet = errors.New("no \"membership settled\" line yet")

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
