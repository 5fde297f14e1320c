package controllers

import (
	"context"
	"errors"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/kube"
	"github.com/ironlb/ironlb/internal/metrics"
)

// configKey is the single request every configuration change maps to: the
// configuration is validated as a whole.
const configKey = "config"

// ConfigReconciler validates the configuration whenever any part of it
// changes and puts a valid one in force. An invalid one is reported (log,
// Warning Event on each object involved, config_stale metric) and the last
// valid one keeps serving: a typo never withdraws an IP.
type ConfigReconciler struct {
	Client    client.Client
	Namespace string
	LBClass   string
	Recorder  events.EventRecorder
	State     *State
	// ConfigState, when set, records each load in the controller's
	// ConfigurationState.
	ConfigState *kube.ConfigStateReporter

	services   *kube.Trigger // the Service reconciler's retry trigger
	poolStatus *kube.Trigger
}

// SetupWithManager registers the reconciler.
func (r *ConfigReconciler) SetupWithManager(mgr ctrl.Manager, services, poolStatus *kube.Trigger) error {
	r.services, r.poolStatus = services, poolStatus
	return watchConfig(mgr, "config", r.Namespace).Complete(r)
}

// watchConfig builds a controller named name whose one request is the
// configuration in namespace, fired by a change to any part of it.
func watchConfig(mgr ctrl.Manager, name, namespace string) *builder.Builder {
	toConfig := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: namespace, Name: configKey}}}
	})
	inNamespace := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == namespace })
	b := ctrl.NewControllerManagedBy(mgr).Named(name).WithEventFilter(inNamespace).WithOptions(kube.ControllerOptions(1))
	for _, obj := range kube.ConfigObjects() {
		b = b.Watches(obj, toConfig)
	}
	return b
}

// Reconcile validates the whole configuration.
func (r *ConfigReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	res, err := kube.ListConfig(ctx, r.Client, r.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	cfg, warnings, parseErr := config.Parse(res)
	for _, w := range warnings {
		log.Info("configuration warning", "problem", w.Error())
	}

	if err := ensureLoaded(ctx, r.State, r.Client, r.LBClass); err != nil {
		return ctrl.Result{}, err
	}
	applied := r.State.ApplyConfig(cfg, parseErr)
	if r.ConfigState != nil {
		if err := r.ConfigState.Report(ctx, parseErr); err != nil {
			log.Info("cannot report the configuration state", "reason", err.Error())
		}
	}

	if parseErr != nil {
		log.Error(parseErr, "configuration refused; the last valid configuration stays in force", "lastValid", applied.HadConfig)
		r.reportProblems(ctx, parseErr)
		return ctrl.Result{}, nil
	}
	log.Info("configuration loaded", "pools", len(cfg.Pools))
	r.services.Fire(applied.Retry...)
	r.poolStatus.Fire(applied.DirtyPools...)
	return ctrl.Result{}, nil
}

// ConfigWatchReconciler runs in every replica, leading or not: it parses
// the configuration whenever it changes and keeps the configuration
// metrics, so that a standby reports the configuration as loaded (or
// stale) as truthfully as the leader and MetalLB's alerts on them hold
// for every pod.
type ConfigWatchReconciler struct {
	Client    client.Client
	Namespace string
	Metrics   *metrics.Client
}

// SetupWithManager registers the reconciler.
func (r *ConfigWatchReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return watchConfig(mgr, "config-watch", r.Namespace).Complete(r)
}

// Reconcile parses the whole configuration and records the outcome.
func (r *ConfigWatchReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	res, err := kube.ListConfig(ctx, r.Client, r.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	_, _, parseErr := config.Parse(res)
	r.Metrics.Updates.Inc()
	if parseErr != nil {
		r.Metrics.UpdateErrors.Inc()
		r.Metrics.ConfigStale.Set(1)
		return ctrl.Result{}, nil
	}
	r.Metrics.ConfigStale.Set(0)
	r.Metrics.ConfigLoaded.Set(1)
	return ctrl.Result{}, nil
}

// reportProblems records a Warning Event on each object a problem names.
func (r *ConfigReconciler) reportProblems(ctx context.Context, err error) {
	var invalid *config.InvalidError
	if !errors.As(err, &invalid) {
		return
	}
	for _, p := range invalid.Problems {
		obj := objectFor(p.Object.Kind)
		if obj == nil {
			continue
		}
		if r.Client.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: p.Object.Name}, obj) != nil {
			continue
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, compat.ReasonInvalidConfiguration, "Validate",
			"%s; the last valid configuration stays in force", p.Error())
	}
}

func objectFor(kind string) client.Object {
	switch kind {
	case config.KindIPAddressPool:
		return &v1beta1.IPAddressPool{}
	case config.KindL2Advertisement:
		return &v1beta1.L2Advertisement{}
	case config.KindBGPAdvertisement:
		return &v1beta1.BGPAdvertisement{}
	case config.KindBGPPeer:
		return &v1beta2.BGPPeer{}
	case config.KindCommunity:
		return &v1beta1.Community{}
	case config.KindBFDProfile:
		return &v1beta1.BFDProfile{}
	}
	return nil
}
