// Command controller is IronLB's cluster-wide half: it validates the
// metallb.io configuration, assigns external IPs to LoadBalancer Services and
// reports what it did. It runs as a Deployment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ironlb/ironlb/controllers"
	"github.com/ironlb/ironlb/controllers/certs"
	"github.com/ironlb/ironlb/controllers/webhook"
	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/metrics"
)

// Each allocation costs two writes (status, annotation) and an Event; the
// client-go default of 20 QPS would allocate about 7 Services a second. 500
// lets a backlog of thousands drain in seconds while leaving the apiserver's
// own priority and fairness to protect it.
const (
	defaultQPS   = 500
	defaultBurst = 1000
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	kubeconfig string
	namespace  string
	lbClass    string
	logLevel   string
	qps        float64
	burst      int
	serving    cli.Serving
	webhook    webhookOptions
}

type webhookOptions struct {
	mode                string
	port                int
	certDir             string
	serviceName         string
	secretName          string
	configName          string
	extraHosts          string
	disableCertRotation bool
}

func bindFlags(fs *flag.FlagSet, o *options) *[]error {
	var errs []error
	cli.StringVar(fs, &o.kubeconfig, "kubeconfig", "KUBECONFIG", "", "path to a kubeconfig; empty means the in-cluster service account")
	cli.StringVar(fs, &o.namespace, "namespace", "METALLB_NAMESPACE", "", "namespace holding the metallb.io configuration (the release namespace)")
	cli.StringVar(fs, &o.lbClass, "lb-class", "", "", "handle only Services whose spec.loadBalancerClass is this; empty means Services without a class")
	cli.StringVar(fs, &o.logLevel, "log-level", "", "info", "log level, one of: "+strings.Join(cli.LogLevels, ", "))
	fs.StringVar(&o.webhook.mode, "webhook-mode", "enabled", "enabled: serve the validating webhook; disabled: do not")
	fs.IntVar(&o.webhook.port, "webhook-port", 9443, "port the validating webhook listens on")
	fs.StringVar(&o.webhook.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory of the webhook's tls.crt and tls.key")
	fs.StringVar(&o.webhook.serviceName, "cert-service-name", "ironlb-webhook-service", "Service in front of the webhook; the certificate is issued for its DNS names")
	fs.StringVar(&o.webhook.secretName, "webhook-secret", "ironlb-webhook-cert", "Secret holding the webhook's CA and certificate")
	fs.StringVar(&o.webhook.configName, "webhook-configuration", "ironlb-webhook-configuration", "ValidatingWebhookConfiguration whose caBundle the controller keeps current")
	fs.StringVar(&o.webhook.extraHosts, "webhook-extra-hosts", "", "comma-separated extra DNS names or IPs for the webhook certificate")
	fs.BoolVar(&o.webhook.disableCertRotation, "disable-cert-rotation", false, "do not generate or rotate the webhook certificate: it is provided in --cert-dir (for example by cert-manager)")
	fs.Float64Var(&o.qps, "kube-api-qps", defaultQPS, "sustained requests per second to the apiserver")
	fs.IntVar(&o.burst, "kube-api-burst", defaultBurst, "short bursts of requests to the apiserver")
	fs.IntVar(&o.serving.MetricsPort, "port", 9120, "port serving Prometheus metrics at /metrics; 0 turns metrics off")
	fs.BoolVar(&o.serving.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to clients the apiserver authorizes (get on nonResourceURL /metrics); false serves plain HTTP")
	fs.IntVar(&o.serving.HealthProbePort, "health-probe-port", 17472, "port serving /healthz and /readyz; 0 turns them off")
	return &errs
}

func (o *options) validate() error {
	var errs []error
	if o.namespace == "" {
		errs = append(errs, errors.New("--namespace (or METALLB_NAMESPACE) is required: it names the namespace holding the configuration"))
	}
	errs = append(errs, cli.CheckLogLevel(o.logLevel))
	if o.webhook.mode != "enabled" && o.webhook.mode != "disabled" {
		errs = append(errs, fmt.Errorf("--webhook-mode %q: must be enabled or disabled", o.webhook.mode))
	}
	return errors.Join(errs...)
}

func main() {
	var o options
	cli.Program{
		Name:     "controller",
		Summary:  fmt.Sprintf("IronLB controller %s: assigns LoadBalancer IPs from metallb.io IPAddressPools.", version),
		Bind:     func(fs *flag.FlagSet) *[]error { return bindFlags(fs, &o) },
		Validate: o.validate,
		LogLevel: &o.logLevel,
		Run:      func(ctx context.Context, log logr.Logger) error { return run(ctx, o, log) },
	}.Main()
}

func run(ctx context.Context, o options, log logr.Logger) error {
	log.Info("starting controller", "version", version, "namespace", o.namespace, "lbClass", o.lbClass,
		"metricsPort", o.serving.MetricsPort, "healthProbePort", o.serving.HealthProbePort)
	cfg, err := cli.RESTConfig(o.kubeconfig, "ironlb-controller/"+version)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	scheme, err := cli.NewScheme()
	if err != nil {
		return err
	}
	mopts := o.serving.ManagerOptions(scheme)
	mopts.Cache = cli.ConfigCacheOptions(o.namespace)
	var certManager *certs.Manager
	if o.webhook.mode == "enabled" {
		mopts.WebhookServer = ctrlwebhook.NewServer(ctrlwebhook.Options{Port: o.webhook.port, CertDir: o.webhook.certDir})
		if !o.webhook.disableCertRotation {
			direct, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				return fmt.Errorf("creating client: %w", err)
			}
			certManager = &certs.Manager{
				Client: direct, Namespace: o.namespace, SecretName: o.webhook.secretName,
				ServiceName: o.webhook.serviceName, WebhookConfigName: o.webhook.configName,
				ExtraHosts: splitList(o.webhook.extraHosts), CertDir: o.webhook.certDir,
				Log: log.WithName("certs"),
			}
			// The webhook server needs its files before it starts.
			if err := certManager.Ensure(ctx); err != nil {
				return fmt.Errorf("preparing the webhook certificate: %w", err)
			}
		}
	}
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if certManager != nil {
		if err := mgr.Add(certManager); err != nil {
			return err
		}
	}
	if o.webhook.mode == "enabled" {
		if err := webhook.Setup(mgr, mgr.GetAPIReader(), o.namespace); err != nil {
			return err
		}
	}
	m, err := metrics.NewController(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := controllers.Setup(mgr, controllers.Options{Namespace: o.namespace, LBClass: o.lbClass, Metrics: m}); err != nil {
		return err
	}
	if err := cli.AddHealthChecks(mgr); err != nil {
		return err
	}
	if o.webhook.mode == "enabled" {
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return fmt.Errorf("adding webhook readiness check: %w", err)
		}
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
