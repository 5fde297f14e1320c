package controllers

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/kube"
	"github.com/ironlb/ironlb/internal/metrics"
)

// Options configure the controller's reconcilers.
type Options struct {
	// Namespace holds the configuration.
	Namespace string
	// LBClass is the spec.loadBalancerClass handled; empty means Services
	// without a class.
	LBClass string
	Metrics *metrics.Controller
}

// Setup registers every reconciler of one leadership term with the
// manager, sharing one State: everything that decides and writes. The
// manager is the term's own, so each term starts from fresh caches and
// state rebuilt from the cluster.
func Setup(mgr ctrl.Manager, o Options) error {
	state := NewState(o.Namespace)
	recorder := mgr.GetEventRecorder(compat.ControllerComponent)
	pools := &PoolStatusReconciler{Client: mgr.GetClient(), Namespace: o.Namespace, State: state, Metrics: o.Metrics}
	services := &ServiceReconciler{Client: mgr.GetClient(), Namespace: o.Namespace, LBClass: o.LBClass, Recorder: recorder, State: state}
	writer := &ServiceWriterReconciler{Client: mgr.GetClient(), Recorder: recorder, State: state}
	cfg := &ConfigReconciler{Client: mgr.GetClient(), Namespace: o.Namespace, LBClass: o.LBClass, Recorder: recorder, State: state,
		ConfigState: &kube.ConfigStateReporter{Reader: mgr.GetAPIReader(), Client: mgr.GetClient(), Namespace: o.Namespace,
			Name: kube.ConfigurationStateController, Labels: map[string]string{kube.LabelComponentType: "controller"},
			Condition: kube.ConditionControllerConfig}}
	if err := pools.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the pool status reconciler: %w", err)
	}
	if err := writer.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Service writer: %w", err)
	}
	if err := services.SetupWithManager(mgr, writer.Trigger(), pools.Trigger()); err != nil {
		return fmt.Errorf("setting up the Service reconciler: %w", err)
	}
	if err := cfg.SetupWithManager(mgr, services.retry, pools.Trigger()); err != nil {
		return fmt.Errorf("setting up the configuration reconciler: %w", err)
	}
	return nil
}

// SetupReplica registers what every replica runs, leading or not: the
// configuration metrics.
func SetupReplica(mgr ctrl.Manager, namespace string, m *metrics.Client) error {
	w := &ConfigWatchReconciler{Client: mgr.GetClient(), Namespace: namespace, Metrics: m}
	if err := w.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the configuration watch: %w", err)
	}
	return nil
}
