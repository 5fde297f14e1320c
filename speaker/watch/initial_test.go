//go:build e2e

package watch

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/kube"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/speaker/loop"
)

// slowStateWrites holds every ConfigurationState create until released,
// as an apiserver busy with a whole DaemonSet starting does.
type slowStateWrites struct {
	client.Client
	reached chan struct{} // closed at the first create
	release chan struct{}
}

func (s *slowStateWrites) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*v1beta1.ConfigurationState); ok {
		select {
		case <-s.reached:
		default:
			close(s.reached)
		}
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Client.Create(ctx, obj, opts...)
}

// TestInitialHandsOverBeforeReportingTheConfiguration: a speaker joins
// memberlist, and so can announce, only once Initial is Done. Reporting
// the configuration's verdict in the ConfigurationState takes a few
// writes, which a speaker starting beside fifty others waited seconds for;
// Done no longer waits for them. The loop has the configuration and Done
// is closed while the state's create is held, and the state is written
// once it is let through.
func TestInitialHandsOverBeforeReportingTheConfiguration(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "initial"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	m, err := metrics.NewClient(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	writes := &slowStateWrites{Client: env.Client, reached: make(chan struct{}), release: make(chan struct{})}
	out := make(chan loop.Update, 100)
	cfg := &Config{Client: env.Client, Namespace: ns, Out: out, Metrics: m, Log: logr.Discard(),
		ConfigState: &kube.ConfigStateReporter{Reader: env.Client, Client: writes, Namespace: ns, Name: "speaker-node-a", Condition: kube.ConditionSpeakerConfig}}
	initial := NewInitial(informers, env.Client, &Services{Client: env.Client, Out: out}, &Nodes{Client: env.Client, Out: out}, cfg)
	started := make(chan error, 1)
	go func() { started <- initial.Start(ctx) }()

	select {
	case <-initial.Done():
	case err := <-started:
		t.Fatalf("Initial returned before Done: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Initial is not Done after 30s while the ConfigurationState's create is held: its first announcement waits for the report")
	}
	if u := <-out; u.Config == nil {
		t.Errorf("the loop's first update %+v, want the configuration", u)
	}

	select {
	case <-writes.reached:
	case <-time.After(30 * time.Second):
		t.Fatal("after Done, Initial never reported the configuration state")
	}
	close(writes.release)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	var state v1beta1.ConfigurationState
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "speaker-node-a"}, &state); err != nil {
		t.Fatalf("the configuration state was not written: %v", err)
	}
	if state.Status.Result != v1beta1.ConfigurationResultValid {
		t.Errorf("ConfigurationState result %q, want %q", state.Status.Result, v1beta1.ConfigurationResultValid)
	}
}
