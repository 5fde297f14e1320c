//go:build e2e

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/internal/compat"
)

// corpusNS is where the corpus's configuration objects go: the manifests
// say metallb-system, as MetalLB documents them, and are moved here as a
// Helm user moves them to the release namespace. The package's own
// metallb-system holds other tests' objects, which would overlap.
const corpusNS = "ironlb-corpus"

// Bounds for the corpus's waits: an allocation takes milliseconds, so these
// only bound a failure.
const (
	corpusAssignWait = 30 * time.Second
	// corpusPendingHold is how long a Service that must stay pending is
	// watched after the controller said it could not allocate.
	corpusPendingHold = 2 * time.Second
)

// corpusCase is one file of testdata/corpus: manifests in a form MetalLB
// documents and the outcome MetalLB documents for them.
type corpusCase struct {
	file   string
	source string
	// refusal is empty when the manifests must be admitted; otherwise the
	// last step must be refused with a message containing it.
	refusal string
	// knownDifference explains why IronLB is known to differ from
	// MetalLB's documented outcome for this file.
	knownDifference string
	steps           []corpusStep
}

// corpusStep is a part of a file applied at once, and what must hold
// after it. Files with several steps need an order MetalLB's outcome
// depends on (a Service holding an IP before another asks for it).
type corpusStep struct {
	manifest string
	expects  []corpusExpect
}

// corpusExpect is one "# expect:" line: a Service and what it gets.
type corpusExpect struct {
	line    string
	service types.NamespacedName
	// what is "ip", "pending" or "pool"; arg is the IPs (comma-separated)
	// or the pool name.
	what, arg string
}

var (
	directiveRE = regexp.MustCompile(`^#\s*(source|verdict|expect|known-difference|step):\s*(.*?)\s*$`)
	// configNamespaceRE finds MetalLB's documented namespace on the
	// namespace line of a manifest's metadata.
	configNamespaceRE = regexp.MustCompile(`(?m)^(\s*namespace:\s*)metallb-system\s*$`)
)

// parseCorpusFile reads a corpus file's directives and splits it into steps.
func parseCorpusFile(path string) (corpusCase, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return corpusCase{}, fmt.Errorf("reading corpus file: %w", err)
	}
	c := corpusCase{file: filepath.Base(path)}
	var verdict string
	step := &corpusStep{}
	for n, line := range strings.Split(string(data), "\n") {
		m := directiveRE.FindStringSubmatch(line)
		if m == nil {
			step.manifest += configNamespaceRE.ReplaceAllString(line, "${1}"+corpusNS) + "\n"
			continue
		}
		switch key, value := m[1], m[2]; key {
		case "source":
			c.source = value
		case "verdict":
			verdict = value
		case "known-difference":
			c.knownDifference = value
		case "step":
			c.steps = append(c.steps, *step)
			step = &corpusStep{}
		case "expect":
			e, err := parseCorpusExpect(value)
			if err != nil {
				return corpusCase{}, fmt.Errorf("%s:%d: %w", c.file, n+1, err)
			}
			step.expects = append(step.expects, e)
		}
	}
	c.steps = append(c.steps, *step)
	switch {
	case c.source == "":
		return corpusCase{}, fmt.Errorf("%s: no '# source:' line naming the MetalLB documentation", c.file)
	case verdict == "admitted":
	case strings.HasPrefix(verdict, "refused "):
		c.refusal = strings.TrimSpace(strings.TrimPrefix(verdict, "refused "))
	default:
		return corpusCase{}, fmt.Errorf("%s: verdict %q, want 'admitted' or 'refused <message part>'", c.file, verdict)
	}
	for i, s := range c.steps {
		if strings.TrimSpace(stripComments(s.manifest)) == "" {
			return corpusCase{}, fmt.Errorf("%s: step %d has no manifest", c.file, i+1)
		}
	}
	return c, nil
}

func parseCorpusExpect(value string) (corpusExpect, error) {
	f := strings.Fields(value)
	if len(f) < 2 {
		return corpusExpect{}, fmt.Errorf("expect %q: want 'NAMESPACE/NAME ip|pool|pending [ARG]'", value)
	}
	ns, name, ok := strings.Cut(f[0], "/")
	if !ok {
		return corpusExpect{}, fmt.Errorf("expect %q: %q is not NAMESPACE/NAME", value, f[0])
	}
	e := corpusExpect{line: value, service: types.NamespacedName{Namespace: ns, Name: name}, what: f[1]}
	switch {
	case e.what == "pending" && len(f) == 2:
	case (e.what == "ip" || e.what == "pool") && len(f) == 3:
		e.arg = f[2]
	default:
		return corpusExpect{}, fmt.Errorf("expect %q: want 'NAMESPACE/NAME ip IP[,IP]', '... pool NAME' or '... pending'", value)
	}
	return e, nil
}

// sameIPs compares two lists of IPs as sets: MetalLB documents which IPs a
// dual-stack Service gets, not in which order its status lists them.
func sameIPs(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func stripComments(manifest string) string {
	var out []string
	for _, l := range strings.Split(manifest, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCompatibilityCorpus applies every manifest MetalLB's configuration,
// advanced configuration and usage pages document (testdata/corpus, one
// file per example, written from the documented fields) to IronLB's
// controller and webhook, and checks the outcome MetalLB documents:
// admitted or refused, and which IP or pool a Service gets or that it stays
// pending. Files marked known-difference are logged, not failed, and fail
// once IronLB behaves as documented, so the marker is removed.
func TestCompatibilityCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	if len(paths) == 0 {
		t.Fatal("no corpus files in testdata/corpus")
	}
	var cases []corpusCase
	for _, p := range paths {
		c, err := parseCorpusFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}

	startControllerWithWebhook(t, corpusNS)

	var known []string
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".yaml"), func(t *testing.T) {
			t.Cleanup(func() { deleteCorpusObjects(t, c) })
			problems := runCorpusCase(t, c)
			switch {
			case c.knownDifference == "":
				for _, p := range problems {
					t.Errorf("%s (%s): %s", c.file, c.source, p)
				}
			case len(problems) == 0:
				t.Errorf("%s is marked known-difference (%s) but now behaves as MetalLB documents: remove the marker", c.file, c.knownDifference)
			default:
				known = append(known, c.file)
				t.Logf("%s: known difference from MetalLB (%s):\n  %s", c.file, c.knownDifference, strings.Join(problems, "\n  "))
			}
		})
	}
	if len(known) > 0 {
		t.Logf("%d corpus files differ from MetalLB's documented outcome (known-difference): %s", len(known), strings.Join(known, ", "))
	}
}

// runCorpusCase applies a case's steps and checks them; it returns every
// way the outcome differs from the documented one.
func runCorpusCase(t *testing.T, c corpusCase) []string {
	t.Helper()
	var problems []string
	for i, s := range c.steps {
		last := i == len(c.steps)-1
		_, stderr, err := env.KubectlOutput(s.manifest, "apply", "-f", "-")
		stepName := fmt.Sprintf("step %d of %d", i+1, len(c.steps))
		switch {
		case last && c.refusal != "" && err == nil:
			problems = append(problems, fmt.Sprintf("%s admitted, MetalLB refuses it (want a refusal containing %q)", stepName, c.refusal))
		case last && c.refusal != "" && !strings.Contains(stderr, c.refusal):
			problems = append(problems, fmt.Sprintf("%s refused, but the message does not contain %q:\n%s", stepName, c.refusal, strings.TrimSpace(stderr)))
		case (!last || c.refusal == "") && err != nil:
			problems = append(problems, fmt.Sprintf("%s refused, MetalLB admits it: %v\n%s", stepName, err, strings.TrimSpace(stderr)))
		}
		for _, e := range s.expects {
			if p := checkCorpusExpect(e); p != "" {
				problems = append(problems, fmt.Sprintf("expect %s: %s", e.line, p))
			}
		}
		if len(problems) > 0 {
			// Later steps build on this one's outcome.
			return problems
		}
	}
	return nil
}

// checkCorpusExpect waits, bounded, for the Service to get what MetalLB
// documents; it returns "" or what the Service got instead.
func checkCorpusExpect(e corpusExpect) string {
	ctx := context.Background()
	var svc corev1.Service
	get := func() error { return env.Client.Get(ctx, e.service, &svc) }
	ingress := func() []string {
		var ips []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			ips = append(ips, in.IP)
		}
		return ips
	}
	if e.what == "pending" {
		// MetalLB documents a warning event when it cannot assign; with
		// it the controller has decided, and the Service must stay without IP.
		deadline := time.Now().Add(corpusAssignWait)
		for {
			if err := get(); err != nil {
				return fmt.Sprintf("reading the Service: %v", err)
			}
			if ips := ingress(); len(ips) > 0 {
				return fmt.Sprintf("got %v from pool %q, want none", ips, svc.Annotations[compat.AnnotationIPAllocatedFromPool])
			}
			failed, err := allocationFailed(ctx, &svc)
			if err != nil {
				return err.Error()
			}
			if failed {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Sprintf("no IP, but no %s event within %s either: the controller did not decide", compat.ReasonAllocationFailed, corpusAssignWait)
			}
			time.Sleep(100 * time.Millisecond)
		}
		hold := time.Now().Add(corpusPendingHold)
		for time.Now().Before(hold) {
			if err := get(); err != nil {
				return fmt.Sprintf("reading the Service: %v", err)
			}
			if ips := ingress(); len(ips) > 0 {
				return fmt.Sprintf("got %v after the %s event, want none", ips, compat.ReasonAllocationFailed)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return ""
	}
	deadline := time.Now().Add(corpusAssignWait)
	for {
		if err := get(); err != nil {
			return fmt.Sprintf("reading the Service: %v", err)
		}
		pool := svc.Annotations[compat.AnnotationIPAllocatedFromPool]
		ips := ingress()
		switch {
		case e.what == "ip" && sameIPs(ips, strings.Split(e.arg, ",")):
			return ""
		case e.what == "pool" && len(ips) > 0 && pool == e.arg:
			return ""
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("after %s: ingress %v, %s %q", corpusAssignWait, ips, compat.AnnotationIPAllocatedFromPool, pool)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// allocationFailed reports whether the controller recorded that it could
// not allocate for this Service (this object: the UID tells it from an
// earlier Service of the same name).
func allocationFailed(ctx context.Context, svc *corev1.Service) (bool, error) {
	var events corev1.EventList
	if err := env.Client.List(ctx, &events, client.InNamespace(svc.Namespace),
		client.MatchingFields{"involvedObject.name": svc.Name}); err != nil {
		return false, fmt.Errorf("listing the Service's events: %w", err)
	}
	for _, ev := range events.Items {
		if ev.InvolvedObject.UID == svc.UID && ev.Reason == compat.ReasonAllocationFailed {
			return true, nil
		}
	}
	return false, nil
}

// deleteCorpusObjects deletes what a case applied, last step first, so
// the next file starts clean. Namespaces stay: this control plane runs no
// namespace controller, so a deleted one would stay Terminating.
func deleteCorpusObjects(t *testing.T, c corpusCase) {
	t.Helper()
	var docs []string
	for i := len(c.steps) - 1; i >= 0; i-- {
		for _, doc := range strings.Split(c.steps[i].manifest, "\n---") {
			var meta struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Errorf("%s: reading a manifest's kind for clean-up: %v", c.file, err)
				continue
			}
			if meta.Kind != "" && meta.Kind != "Namespace" {
				docs = append(docs, doc)
			}
		}
	}
	if len(docs) == 0 {
		return
	}
	if _, err := env.Kubectl(strings.Join(docs, "\n---\n"), "delete", "--ignore-not-found", "--wait", "--timeout=60s", "-f", "-"); err != nil {
		t.Errorf("%s: deleting what it applied: %v", c.file, err)
	}
}
