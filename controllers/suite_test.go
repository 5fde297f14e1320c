//go:build e2e

package controllers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/test/poll"
	"github.com/ironlb/ironlb/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	os.Exit(testenv.Main(m, &env, nil))
}

// runningController is one running instance of the controller's reconcilers.
type runningController struct {
	metrics *metrics.Controller
	stop    func()
}

// startController runs the reconcilers in-process against the test
// apiserver, with the configuration in namespace cfgNS, until the test ends
// or stop is called.
func startController(t *testing.T, cfgNS string) *runningController {
	t.Helper()
	scheme, err := cli.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	cfg := *env.Config
	cfg.QPS, cfg.Burst = 500, 1000
	mgr, err := ctrl.NewManager(&cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cli.ConfigCacheOptions(cfgNS),
		Controller:             controllerConfigForTests(),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.NewController(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(mgr, Options{Namespace: cfgNS, Metrics: m}); err != nil {
		t.Fatal(err)
	}
	if err := SetupReplica(mgr, cfgNS, m.Client); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(stop)
	return &runningController{metrics: m, stop: stop}
}

// namespace creates a namespace for one test; envtest has no namespace
// controller, so it is never removed, and each test uses a fresh name.
func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return name
}

// cleanupServices deletes the test's Services when it ends, so that no
// later controller instance allocates for them.
func cleanupServices(t *testing.T, ns string) {
	t.Cleanup(func() {
		_ = env.Client.DeleteAllOf(context.Background(), &corev1.Service{}, client.InNamespace(ns))
	})
}

func apply(t *testing.T, manifest string) {
	t.Helper()
	if _, err := env.Kubectl(manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// lbService returns a LoadBalancer Service on port 80.
func lbService(ns, name string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Ports:    []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP}},
			Selector: map[string]string{"app": name},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// pollLimit bounds every wait for the controller; generous because CI
// machines are slow, never a performance claim.
const pollLimit = 30 * time.Second

// eventually polls cond every 50 ms until it returns "" or the limit passes,
// then fails with the last reason.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	poll.Until(t, what, pollLimit, 50*time.Millisecond, cond)
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	return &svc
}

func ingressOf(svc *corev1.Service) string {
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	return strings.Join(ips, ",")
}

// waitIngress waits until the Service's ingress IPs are exactly want.
func waitIngress(t *testing.T, ns, name, want string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	eventually(t, fmt.Sprintf("ingress of %s/%s", ns, name), func() string {
		svc = getService(t, ns, name)
		if got := ingressOf(svc); got != want {
			return fmt.Sprintf("%q, want %q", got, want)
		}
		return ""
	})
	return svc
}

// events lists the Events about one object.
func eventsAbout(t *testing.T, ns, name string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for an Event about the object with this reason whose note
// contains text, and returns it.
func waitEvent(t *testing.T, ns, name, reason, text string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	eventually(t, fmt.Sprintf("event %s on %s/%s", reason, ns, name), func() string {
		evs := eventsAbout(t, ns, name)
		for _, e := range evs {
			if e.Reason == reason && strings.Contains(e.Note, text) {
				found = e
				return ""
			}
		}
		var seen []string
		for _, e := range evs {
			seen = append(seen, e.Reason+": "+e.Note)
		}
		return fmt.Sprintf("missing (seen %q)", seen)
	})
	return found
}

func gaugeValue(g prometheus.Collector) float64 { return testutil.ToFloat64(g) }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
