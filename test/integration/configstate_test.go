//go:build e2e

package integration

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/kube"
)

// staleOnce hands out, at its first Get, the object as it was before
// another writer changed it, as a reader racing that writer sees it.
type staleOnce struct {
	client.Reader
	stale *v1beta1.ConfigurationState
}

func (s *staleOnce) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if s.stale != nil {
		s.stale.DeepCopyInto(obj.(*v1beta1.ConfigurationState))
		s.stale = nil
		return nil
	}
	return s.Reader.Get(ctx, key, obj, opts...)
}

// TestConfigStateReportSurvivesAnotherWriter: a speaker's reconciler and
// its start report its ConfigurationState at once; the one whose read is
// stale meets a conflict. It reads again and writes its verdict, instead
// of leaving the state unwritten with a log line that said "retrying".
func TestConfigStateReportSurvivesAnotherWriter(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: namespace, Name: "speaker-racing"}
	first := &kube.ConfigStateReporter{Reader: env.Client, Client: env.Client, Namespace: key.Namespace, Name: key.Name, Condition: kube.ConditionSpeakerConfig}
	if err := first.Report(ctx, errors.New("bad pool")); err != nil {
		t.Fatal(err)
	}
	var before v1beta1.ConfigurationState
	if err := env.Client.Get(ctx, key, &before); err != nil {
		t.Fatal(err)
	}
	// The other writer moves the object on; this reporter still reads it
	// as it was.
	other := before.DeepCopy()
	other.Labels = map[string]string{"moved": "on"}
	if err := env.Client.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	racing := &kube.ConfigStateReporter{Reader: &staleOnce{Reader: env.Client, stale: &before}, Client: env.Client,
		Namespace: key.Namespace, Name: key.Name, Condition: kube.ConditionSpeakerConfig}
	if err := racing.Report(ctx, nil); err != nil {
		t.Fatalf("reporting over a stale read: %v", err)
	}
	var after v1beta1.ConfigurationState
	if err := env.Client.Get(ctx, key, &after); err != nil {
		t.Fatal(err)
	}
	if after.Status.Result != v1beta1.ConfigurationResultValid {
		t.Errorf("ConfigurationState result %q after the racing report, want %q", after.Status.Result, v1beta1.ConfigurationResultValid)
	}
}
