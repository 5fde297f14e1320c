// Command controller is IronLB's cluster-wide half: it validates the
// metallb.io configuration, assigns external IPs to LoadBalancer Services and
// reports what it did. It runs as a Deployment.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ironlb/ironlb/controllers"
	"github.com/ironlb/ironlb/controllers/certs"
	"github.com/ironlb/ironlb/controllers/leader"
	"github.com/ironlb/ironlb/controllers/memberlist"
	"github.com/ironlb/ironlb/controllers/webhook"
	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/compat"
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
	tls        cli.TLS
	webhook    webhookOptions
	// mlSecretName, when set, is the memberlist Secret the controller
	// creates if absent, owned by the Deployment named deployment.
	mlSecretName string
	deployment   string
	leader       leaderOptions
	unused       cli.Unused
}

// leaderOptions are kube-controller-manager's --leader-elect-* flags.
type leaderOptions struct {
	elect         bool
	leaseName     string
	leaseNS       string
	identity      string
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
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
	http2               bool
}

func bindFlags(fs *flag.FlagSet, o *options) *[]error {
	var errs []error
	cli.StringVar(fs, &o.kubeconfig, "kubeconfig", "KUBECONFIG", "", "path to a kubeconfig; empty means the in-cluster service account")
	cli.StringVar(fs, &o.namespace, "namespace", "METALLB_NAMESPACE", "", "namespace holding the metallb.io configuration (the release namespace)")
	cli.StringVar(fs, &o.lbClass, "lb-class", "", "", "handle only Services whose spec.loadBalancerClass is this; empty means Services without a class")
	cli.StringVar(fs, &o.logLevel, "log-level", "", "info", "log level, one of: "+strings.Join(cli.LogLevels, ", "))
	fs.StringVar(&o.webhook.mode, "webhook-mode", "enabled", "enabled: serve the webhooks and assign IPs; disabled: only assign IPs; onlywebhook: only serve the webhooks")
	fs.BoolVar(&o.webhook.http2, "webhook-http2", false, "let the webhook server speak HTTP/2; off by default, as HTTP/2 rapid-reset (CVE-2023-44487) makes it a denial-of-service risk")
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
	o.serving.BindMetalLB(fs)
	o.tls.Bind(fs)
	cli.StringVar(fs, &o.mlSecretName, "ml-secret-name", "METALLB_ML_SECRET_NAME", "", "memberlist Secret to create, with a random key, when it does not exist (the speakers mount it); empty: the Secret is provided")
	cli.StringVar(fs, &o.deployment, "deployment", "METALLB_DEPLOYMENT", "", "the controller's own Deployment, which owns the memberlist Secret it creates")
	o.unused.Flag(fs, "enable-pprof", true, "use --pprof-bind-address")
	fs.BoolVar(&o.leader.elect, "leader-elect", false, "run for a Lease so that several replicas can run: only its holder assigns IPs and writes status; every replica serves the webhook")
	fs.StringVar(&o.leader.leaseName, "leader-elect-resource-name", "ironlb-controller", "name of the Lease")
	fs.StringVar(&o.leader.leaseNS, "leader-elect-resource-namespace", "", "namespace of the Lease; empty means --namespace")
	fs.DurationVar(&o.leader.leaseDuration, "leader-elect-lease-duration", leader.DefaultLeaseDuration, "how long a standby waits after the leader's last renewal before it takes over")
	fs.DurationVar(&o.leader.renewDeadline, "leader-elect-renew-deadline", leader.DefaultRenewDeadline, "how long the leader keeps leading without renewing; less than the lease duration")
	fs.DurationVar(&o.leader.retryPeriod, "leader-elect-retry-period", leader.DefaultRetryPeriod, "how often each replica renews or tries to acquire the Lease")
	cli.StringVar(fs, &o.leader.identity, "pod-name", "METALLB_POD_NAME", "", "this replica's identity in the Lease; empty means the host name, which in a pod is the pod's name")
	o.unused.Env("METALLB_BGP_TYPE", "IronLB validates the configuration for its embedded BGP speaker in every mode", "native")
	return &errs
}

func (o *options) validate() error {
	var errs []error
	errs = append(errs, cli.DefaultNamespace(&o.namespace, cli.ServiceAccountNamespaceFile))
	errs = append(errs, cli.CheckLogLevel(o.logLevel))
	switch o.webhook.mode {
	case webhookEnabled, webhookDisabled, webhookOnly:
	default:
		errs = append(errs, fmt.Errorf("--webhook-mode %q: must be %s, %s or %s", o.webhook.mode, webhookEnabled, webhookDisabled, webhookOnly))
	}
	if o.leader.elect {
		errs = append(errs, o.leader.validate())
		if o.leader.leaseNS == "" {
			o.leader.leaseNS = o.namespace
		}
	}
	if o.mlSecretName != "" && o.deployment == "" {
		errs = append(errs, errors.New("--ml-secret-name (or METALLB_ML_SECRET_NAME) needs --deployment (or METALLB_DEPLOYMENT): the Secret it creates is owned by the controller's Deployment"))
	}
	tlsOpt, err := o.tls.Options()
	errs = append(errs, err)
	o.serving.TLS = tlsOpt
	return errors.Join(errs...)
}

func (l *leaderOptions) validate() error {
	if l.identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--leader-elect needs an identity: --pod-name is empty and the host name cannot be read: %w", err)
		}
		l.identity = host
	}
	if l.leaseDuration <= l.renewDeadline {
		return fmt.Errorf("--leader-elect-lease-duration %s must be longer than --leader-elect-renew-deadline %s: the leader must stop before a standby may take over",
			l.leaseDuration, l.renewDeadline)
	}
	if l.leaseDuration < time.Second {
		return fmt.Errorf("--leader-elect-lease-duration %s: a Lease counts whole seconds, at least 1s", l.leaseDuration)
	}
	if floor := time.Duration(leaderelection.JitterFactor * float64(l.retryPeriod)); l.retryPeriod <= 0 || l.renewDeadline <= floor {
		return fmt.Errorf("--leader-elect-renew-deadline %s must be longer than %.1f × --leader-elect-retry-period %s, which must be positive",
			l.renewDeadline, leaderelection.JitterFactor, l.retryPeriod)
	}
	return nil
}

const (
	webhookEnabled  = "enabled"
	webhookDisabled = "disabled"
	webhookOnly     = "onlywebhook"
)

func (o *options) servesWebhook() bool { return o.webhook.mode != webhookDisabled }
func (o *options) assignsIPs() bool    { return o.webhook.mode != webhookOnly }

func main() {
	var o options
	cli.Program{
		Name:     "controller",
		Unused:   &o.unused,
		Summary:  fmt.Sprintf("IronLB controller %s: assigns LoadBalancer IPs from metallb.io IPAddressPools.", version),
		Bind:     func(fs *flag.FlagSet) *[]error { return bindFlags(fs, &o) },
		Validate: o.validate,
		LogLevel: &o.logLevel,
		Run:      func(ctx context.Context, log logr.Logger) error { return run(ctx, o, log) },
	}.Main()
}

func run(ctx context.Context, o options, log logr.Logger) error {
	log.Info("starting controller", "version", version, "namespace", o.namespace, "lbClass", o.lbClass,
		"metricsPort", o.serving.MetricsPort, "healthProbePort", o.serving.HealthProbePort, "webhookMode", o.webhook.mode,
		"leaderElect", o.leader.elect, "identity", o.leader.identity)
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
	if o.mlSecretName != "" && o.assignsIPs() {
		direct, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return fmt.Errorf("creating client: %w", err)
		}
		if err := memberlist.EnsureSecret(ctx, direct, o.namespace, o.mlSecretName, o.deployment, log.WithName("memberlist")); err != nil {
			return err
		}
	}
	if o.servesWebhook() {
		mopts.WebhookServer = ctrlwebhook.NewServer(ctrlwebhook.Options{Port: o.webhook.port, CertDir: o.webhook.certDir,
			TLSOpts: webhookTLS(o)})
		if !o.webhook.disableCertRotation {
			direct, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				return fmt.Errorf("creating client: %w", err)
			}
			certManager = &certs.Manager{
				Client: direct, Namespace: o.namespace, SecretName: o.webhook.secretName,
				ServiceName: o.webhook.serviceName, WebhookConfigName: o.webhook.configName,
				ExtraHosts: cli.SplitComma(o.webhook.extraHosts), CertDir: o.webhook.certDir,
				ConversionCRDs: []string{compat.BGPPeerCRD}, ConversionPath: webhook.ConversionPath,
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
	if o.servesWebhook() {
		if err := webhook.Setup(mgr, mgr.GetAPIReader(), o.namespace); err != nil {
			return err
		}
		if err := webhook.SetupConversion(mgr); err != nil {
			return err
		}
	}
	m, err := metrics.NewController(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if o.assignsIPs() {
		if err := controllers.SetupReplica(mgr, o.namespace, m.Client); err != nil {
			return err
		}
		assign, err := assigner(cfg, scheme, o, m, log)
		if err != nil {
			return err
		}
		if err := mgr.Add(assign); err != nil {
			return err
		}
	}
	if err := cli.AddHealthChecks(mgr); err != nil {
		return err
	}
	if o.servesWebhook() {
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return fmt.Errorf("adding webhook readiness check: %w", err)
		}
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// assigner is what assigns IPs: one leadership term after another with
// --leader-elect, else a single term as long as the process runs.
func assigner(cfg *rest.Config, scheme *runtime.Scheme, o options, m *metrics.Controller, log logr.Logger) (manager.RunnableFunc, error) {
	term := func(ctx context.Context) error { return runTerm(ctx, cfg, scheme, o, m, log.WithName("term")) }
	if !o.leader.elect {
		return term, nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the leader election client: %w", err)
	}
	e := &leader.Elector{
		Lock:          leader.Lease(cs.CoordinationV1(), o.leader.leaseNS, o.leader.leaseName, o.leader.identity),
		LeaseDuration: o.leader.leaseDuration, RenewDeadline: o.leader.renewDeadline, RetryPeriod: o.leader.retryPeriod,
		Log: log.WithName("leader"),
	}
	return func(ctx context.Context) error { return e.Run(ctx, term) }, nil
}

// termShutdown bounds how long a term's reconcilers get to return once it
// ends; their API calls end with its context, so they need little.
const termShutdown = 2 * time.Second

// termSetupRetry bounds the wait between attempts to build a term's
// manager: building it asks the apiserver for the API's shape, which fails
// while the apiserver restarts.
const termSetupRetry = 2 * time.Second

// runTerm assigns IPs until ctx ends, from a manager of its own: fresh
// informer caches listed now and a State rebuilt from them, so a new
// leader starts from everything the previous one wrote. A manager that
// cannot be built yet (the apiserver restarting) is tried again while the
// term lasts: ending the process for it would leave new Services without
// an IP until the pod's restart backoff ran out.
func runTerm(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, o options, m *metrics.Controller, log logr.Logger) error {
	var mgr manager.Manager
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, termSetupRetry) {
		var err error
		if mgr, err = newTermManager(cfg, scheme, o, m); err == nil {
			break
		}
		log.Info("cannot start assigning IPs yet; trying again", "in", wait.String(), "reason", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	defer m.ResetPools()
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("assigning IPs: %w", err)
	}
	return nil
}

// newTermManager builds a term's manager with the controllers set up.
func newTermManager(cfg *rest.Config, scheme *runtime.Scheme, o options, m *metrics.Controller) (manager.Manager, error) {
	skipNames, shutdown := true, termShutdown
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cli.ConfigCacheOptions(o.namespace),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		GracefulShutdownTimeout: &shutdown,
		// Each term registers the same controllers again.
		Controller: ctrlconfig.Controller{SkipNameValidation: &skipNames},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the assigning manager: %w", err)
	}
	if err := controllers.Setup(mgr, controllers.Options{Namespace: o.namespace, LBClass: o.lbClass, Metrics: m}); err != nil {
		return nil, err
	}
	return mgr, nil
}

// webhookTLS applies the --tls-* flags and, unless --webhook-http2,
// restricts the webhook to HTTP/1.1.
func webhookTLS(o options) []func(*tls.Config) {
	opts := []func(*tls.Config){o.serving.TLS}
	if !o.webhook.http2 {
		opts = append(opts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return opts
}
