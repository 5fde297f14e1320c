package monitoring

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/test/lab/cluster"
)

// Port is where the lab's Prometheus listens, on the control-plane node's
// address (reachable from the machine, as the apiserver is).
const Port = 9090

// tokenLifetime outlasts any test or demo run.
const tokenLifetime = 24 * time.Hour

// Grant gives Prometheus' ServiceAccount what discovery needs (pods in
// IronLB's namespace) and returns a token for it. Reading /metrics is the
// chart's to grant (prometheus.serviceAccount, prometheus.namespace).
func Grant(ctx context.Context, cs kubernetes.Interface, ironlbNamespace string) (string, error) {
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s: %w", what, err)
		}
		return nil
	}
	if err := create("namespace "+Namespace, ignoreResult(cs.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}))); err != nil {
		return "", err
	}
	if err := create("ServiceAccount "+ServiceAccount, ignoreResult(cs.CoreV1().ServiceAccounts(Namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccount}}, metav1.CreateOptions{}))); err != nil {
		return "", err
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-discovery", Namespace: ironlbNamespace},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if err := create("Role prometheus-discovery", ignoreResult(cs.RbacV1().Roles(ironlbNamespace).Create(ctx, role, metav1.CreateOptions{}))); err != nil {
		return "", err
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-discovery", Namespace: ironlbNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccount, Namespace: Namespace}},
	}
	if err := create("RoleBinding prometheus-discovery", ignoreResult(cs.RbacV1().RoleBindings(ironlbNamespace).Create(ctx, binding, metav1.CreateOptions{}))); err != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(tokenLifetime.Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s/%s: %w", Namespace, ServiceAccount, err)
	}
	return tr.Status.Token, nil
}

func ignoreResult[T any](_ T, err error) error { return err }

// Options start a lab Prometheus.
type Options struct {
	Token           string
	IronLBNamespace string
	Probers         []string
	RuleFiles       []string
	ScrapeInterval  time.Duration
}

// Prometheus is a running lab Prometheus.
type Prometheus struct {
	URL  string
	API  promv1.API
	st   *cluster.State
	node string
	// stopTargets ends the goroutine that keeps the targets file current.
	stopTargets context.CancelFunc
	targetsDone chan struct{}
	// daemonSets serves the kube-state-metrics series the alerts read.
	daemonSets       *http.Server
	daemonSetsServed <-chan error
}

// targetsRefresh is how often IronLB's pods are listed again: a restarted
// speaker is scraped within a second or two, as with Kubernetes discovery.
const targetsRefresh = time.Second

const daemonName = "prometheus"

// Start runs Debian's prometheus in the control-plane node's namespace
// (it reaches pods there as a Prometheus pod would) with a fresh TSDB,
// keeps its targets file listing IronLB's pods until Stop, and waits until
// it is ready.
func Start(ctx context.Context, st *cluster.State, cs kubernetes.Interface, o Options) (*Prometheus, error) {
	cp := st.Plan.ControlPlane()
	dir := filepath.Join(st.Dir, "prometheus")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(o.Token), 0o600); err != nil {
		return nil, err
	}
	rules := make([]string, len(o.RuleFiles))
	for i, f := range o.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		rules[i] = abs
	}
	targetsFile := filepath.Join(dir, "targets.json")
	daemonSets := &daemonSetSeries{}
	refresh := func(ctx context.Context) error {
		pods, err := cs.CoreV1().Pods(o.IronLBNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing IronLB's pods in %s: %w", o.IronLBNamespace, err)
		}
		sets, err := cs.AppsV1().DaemonSets(o.IronLBNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing the DaemonSets in %s: %w", o.IronLBNamespace, err)
		}
		daemonSets.set(sets.Items)
		return writeTargets(targetsFile, targetGroups(pods.Items))
	}
	if err := refresh(ctx); err != nil {
		return nil, err
	}
	daemonSetsAddr := netip.AddrPortFrom(st.Plan.Gateway, DaemonSetsPort).String()
	cfg, err := Config(ConfigOptions{
		TargetsFile: targetsFile, TokenFile: tokenFile,
		Probers: o.Probers, KubeStateMetrics: daemonSetsAddr, RuleFiles: rules, ScrapeInterval: o.ScrapeInterval,
	})
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("%s:%d", cp.IP, Port)
	if err := st.Launch(cp.Name, cluster.Daemon{Name: daemonName, Args: []string{"prometheus",
		"--config.file=" + cfgFile, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--storage.tsdb.retention.time=1d",
	}}); err != nil {
		return nil, err
	}
	srv, served, err := serveDaemonSets(daemonSetsAddr, daemonSets)
	if err != nil {
		_ = st.StopDaemon(cp.Name, daemonName, 10*time.Second)
		return nil, err
	}
	tctx, stop := context.WithCancel(context.Background())
	p := &Prometheus{URL: "http://" + addr, st: st, node: cp.Name, stopTargets: stop, targetsDone: make(chan struct{}),
		daemonSets: srv, daemonSetsServed: served}
	go func() {
		defer close(p.targetsDone)
		tick := time.NewTicker(targetsRefresh)
		defer tick.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-tick.C:
				// A failed listing keeps the last file: the apiserver
				// may be restarting.
				_ = refresh(tctx)
			}
		}
	}()
	c, err := promapi.NewClient(promapi.Config{Address: p.URL})
	if err != nil {
		return nil, err
	}
	p.API = promv1.NewAPI(c)
	if err := p.waitReady(ctx, 30*time.Second); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Prometheus) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus at %s not ready after %s (last: %v); see %s", p.URL, limit, err, p.LogFile())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LogFile is Prometheus' output.
func (p *Prometheus) LogFile() string { return p.st.LogFile(p.node, daemonName) }

// Stop ends Prometheus, the targets file's refresh and the DaemonSet
// series.
func (p *Prometheus) Stop() error {
	p.stopTargets()
	<-p.targetsDone
	_ = p.daemonSets.Close()
	return errors.Join(<-p.daemonSetsServed, p.st.StopDaemon(p.node, daemonName, 10*time.Second))
}

// Query evaluates expr now; warnings are errors, so a test never passes
// on a half-answered query.
func (p *Prometheus) Query(ctx context.Context, expr string) (model.Value, error) {
	v, warnings, err := p.API.Query(ctx, expr, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("query %q: warnings %v", expr, warnings)
	}
	return v, nil
}

// TargetsUp returns nil once every discovered target has been scraped
// successfully and there are at least want of them, else what is missing.
func (p *Prometheus) TargetsUp(ctx context.Context, want int) error {
	r, err := p.API.Targets(ctx)
	if err != nil {
		return err
	}
	var bad []error
	for _, t := range r.Active {
		if t.Health != promv1.HealthGood {
			bad = append(bad, fmt.Errorf("%s %s: %s %s", t.ScrapePool, t.ScrapeURL, t.Health, t.LastError))
		}
	}
	if len(r.Active) < want {
		bad = append(bad, fmt.Errorf("%d targets, want %d", len(r.Active), want))
	}
	return errors.Join(bad...)
}
