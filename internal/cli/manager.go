package cli

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/kube"
)

// NewScheme returns a scheme with the built-in Kubernetes kinds, CRDs (the
// controller keeps the BGPPeer CRD's conversion webhook) and every
// metallb.io kind.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1beta1.AddToScheme, v1beta2.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// ConfigCacheOptions restricts the informers of the metallb.io configuration
// kinds to IronLB's namespace; everything else is watched cluster-wide.
func ConfigCacheOptions(namespace string) cache.Options {
	inNamespace := cache.ByObject{Namespaces: map[string]cache.Config{namespace: {}}}
	by := map[client.Object]cache.ByObject{}
	for _, obj := range []client.Object{&v1beta1.IPAddressPool{}, &v1beta1.L2Advertisement{}, &v1beta1.BGPAdvertisement{},
		&v1beta2.BGPPeer{}, &v1beta1.Community{}, &v1beta1.BFDProfile{}, &v1beta1.ServiceL2Status{}, &v1beta1.ServiceBGPStatus{}} {
		by[obj] = inNamespace
	}
	// Watches resume within kube.RetryMax of an apiserver coming back,
	// not after client-go's backoff of up to a minute.
	return cache.Options{ByObject: by, NewInformer: kube.NewPatientInformer}
}

// Serving is how a binary exposes /metrics and its health probes.
type Serving struct {
	// MetricsPort serves /metrics; 0 turns metrics off.
	MetricsPort int
	// MetricsSecure serves /metrics over HTTPS and lets only clients that the
	// apiserver authenticates and authorizes (get on the /metrics
	// non-resource URL) read it, as MetalLB does. False serves plain HTTP.
	MetricsSecure bool
	// HealthProbePort serves /healthz and /readyz; 0 turns them off.
	HealthProbePort int
	// MetricsCertDir holds tls.crt and tls.key for secure /metrics; empty
	// means a self-signed certificate made at start.
	MetricsCertDir string
	// PprofBindAddress serves /debug/pprof; empty turns it off.
	PprofBindAddress string
	// TLS applies the --tls-* flags to the metrics server.
	TLS func(*tls.Config)
}

// BindMetalLB registers the serving flags MetalLB's binaries share with
// ours beyond the ports: --metrics-cert-dir and --pprof-bind-address.
func (s *Serving) BindMetalLB(fs *flag.FlagSet) {
	fs.StringVar(&s.MetricsCertDir, "metrics-cert-dir", "", "directory of tls.crt and tls.key for secure /metrics; empty means a self-signed certificate made at start")
	fs.StringVar(&s.PprofBindAddress, "pprof-bind-address", "", "address serving /debug/pprof, e.g. 127.0.0.1:6060; empty turns it off")
}

// ManagerOptions turns the serving settings into controller-runtime manager
// options; the caller adds its cache and webhook settings.
func (s Serving) ManagerOptions(scheme *runtime.Scheme) manager.Options {
	metrics := metricsserver.Options{BindAddress: "0"}
	if s.MetricsPort != 0 {
		metrics.BindAddress = fmt.Sprintf(":%d", s.MetricsPort)
		if s.MetricsSecure {
			metrics.SecureServing = true
			metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
			metrics.CertDir = s.MetricsCertDir
			if s.TLS != nil {
				metrics.TLSOpts = []func(*tls.Config){s.TLS}
			}
		}
	}
	probe := "0"
	if s.HealthProbePort != 0 {
		probe = fmt.Sprintf(":%d", s.HealthProbePort)
	}
	return manager.Options{
		Scheme:                 scheme,
		Metrics:                metrics,
		HealthProbeBindAddress: probe,
		PprofBindAddress:       s.PprofBindAddress,
	}
}

// AddHealthChecks registers /healthz (the process is serving) and /readyz
// (its informers have synced, when a manager has any).
func AddHealthChecks(mgr manager.Manager) error {
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding healthz check: %w", err)
	}
	ready := func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("informer caches not synced")
		}
		return nil
	}
	if err := mgr.AddReadyzCheck("informers", ready); err != nil {
		return fmt.Errorf("adding readyz check: %w", err)
	}
	return nil
}
