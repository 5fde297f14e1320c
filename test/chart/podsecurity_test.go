package chart

import (
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// podSecurity evaluates a pod template as the apiserver's PodSecurity
// admission would at the given level, latest version.
func podSecurity(level string, tmpl *corev1.PodTemplateSpec) error {
	l, err := psapi.ParseLevel(level)
	if err != nil {
		return err
	}
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range ev.EvaluatePod(psapi.LevelVersion{Level: l, Version: psapi.LatestVersion()}, &tmpl.ObjectMeta, &tmpl.Spec) {
		if !r.Allowed {
			failed = append(failed, fmt.Sprintf("%s (%s)", r.ForbiddenReason, r.ForbiddenDetail))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("violates PodSecurity %q: %s", level, strings.Join(failed, "; "))
	}
	return nil
}

// TestPodSecurityCanFail: a root pod without a seccomp profile is not
// "restricted", so a pass means something.
func TestPodSecurityCanFail(t *testing.T) {
	pod := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	if err := podSecurity("restricted", pod); err == nil {
		t.Error("a bare pod passes restricted")
	}
	if err := podSecurity("baseline", pod); err != nil {
		t.Errorf("a bare pod fails baseline: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
