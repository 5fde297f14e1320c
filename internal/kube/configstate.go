package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
)

// ConfigurationState's labels, names and condition vocabulary: MetalLB's,
// so what reads MetalLB's objects reads IronLB's.
const (
	LabelComponentType = "metallb.io/component-type"
	LabelNodeName      = "metallb.io/node-name"
	// ConfigurationStateController is the controller's object.
	ConfigurationStateController = "controller"
	// ConditionControllerConfig and ConditionSpeakerConfig are the condition
	// types each component reports.
	ConditionControllerConfig = "poolReconcilerValid"
	ConditionSpeakerConfig    = "configReconcilerValid"
	reasonConfigurationError  = "ConfigurationError"
	reasonReconciled          = "Reconciled"
)

// ConfigurationStateSpeaker names a speaker's object.
func ConfigurationStateSpeaker(node string) string { return "speaker-" + node }

// ConfigurationStatus sums conditions up as MetalLB does: Unknown without
// any, Invalid when one failed on a configuration error (their messages
// joined), Valid otherwise.
func ConfigurationStatus(conds []metav1.Condition) (v1beta1.ConfigurationResult, string) {
	if len(conds) == 0 {
		return v1beta1.ConfigurationResultUnknown, ""
	}
	var msgs []string
	for _, c := range conds {
		if c.Status == metav1.ConditionFalse && c.Reason == reasonConfigurationError {
			msgs = append(msgs, c.Message)
		}
	}
	if len(msgs) > 0 {
		return v1beta1.ConfigurationResultInvalid, strings.Join(msgs, "\n")
	}
	return v1beta1.ConfigurationResultValid, ""
}

// ConfigCondition is the condition a component reports after loading the
// configuration: False with the error, or True.
func ConfigCondition(condType string, loadErr error) metav1.Condition {
	if loadErr != nil {
		return metav1.Condition{Type: condType, Status: metav1.ConditionFalse, Reason: reasonConfigurationError,
			Message: "configuration error: " + loadErr.Error()}
	}
	return metav1.Condition{Type: condType, Status: metav1.ConditionTrue, Reason: reasonReconciled, Message: "configuration loaded"}
}

// ConfigStateReporter writes one component's ConfigurationState.
type ConfigStateReporter struct {
	// Reader reads past the cache (no informer on ConfigurationStates);
	// Client writes.
	Reader    client.Reader
	Client    client.Client
	Namespace string
	Name      string
	Labels    map[string]string
	// Owner, when set, owns the object (the component's pod), so it goes
	// with the pod.
	Owner     *metav1.OwnerReference
	Condition string

	missing sync.Once
}

// Report records the outcome of a configuration load. Where the CRD is
// missing (metallb.io CRDs older than MetalLB 0.15.3 left in place) it
// does nothing and says so once through the returned error only the first
// time. Another write meanwhile (the component's reconciler and its start
// report at once) is met by reading the object again and writing once
// more.
func (r *ConfigStateReporter) Report(ctx context.Context, loadErr error) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return r.report(ctx, loadErr) })
	if meta.IsNoMatchError(err) {
		var first error
		r.missing.Do(func() {
			first = fmt.Errorf("no ConfigurationState CRD (configurationstates.metallb.io); configuration state is reported in Events and metrics only: %w", err)
		})
		return first
	}
	return err
}

func (r *ConfigStateReporter) report(ctx context.Context, loadErr error) error {
	key := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
	var cs v1beta1.ConfigurationState
	err := r.Reader.Get(ctx, key, &cs)
	if meta.IsNoMatchError(err) {
		return err
	}
	if apierrors.IsNotFound(err) {
		cs = v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name, Labels: r.Labels}}
		if r.Owner != nil {
			cs.OwnerReferences = []metav1.OwnerReference{*r.Owner}
		}
		if err := r.Client.Create(ctx, &cs); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ConfigurationState %s: %w", key, err)
		}
		if err := r.Reader.Get(ctx, key, &cs); err != nil {
			return fmt.Errorf("reading ConfigurationState %s: %w", key, err)
		}
	} else if err != nil {
		return fmt.Errorf("reading ConfigurationState %s: %w", key, err)
	}
	orig := cs.DeepCopy()
	meta.SetStatusCondition(&cs.Status.Conditions, ConfigCondition(r.Condition, loadErr))
	cs.Status.Result, cs.Status.ErrorSummary = ConfigurationStatus(cs.Status.Conditions)
	if equalStatus(orig.Status, cs.Status) {
		return nil
	}
	if err := r.Client.Status().Update(ctx, &cs); err != nil {
		return fmt.Errorf("writing ConfigurationState %s: %w", key, err)
	}
	return nil
}

func equalStatus(a, b v1beta1.ConfigurationStateStatus) bool {
	if a.Result != b.Result || a.ErrorSummary != b.ErrorSummary || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}
