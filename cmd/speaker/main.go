// Command speaker is IronLB's per-node half: it runs on every node (a
// DaemonSet on the host network), agrees with the other speakers on which
// node announces each Service, and announces it with ARP/NDP or BGP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/ironlb/ironlb/speaker/bgpapply"
	"github.com/ironlb/ironlb/speaker/ifwatch"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/kube"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/speaker/agent"
	"github.com/ironlb/ironlb/speaker/bgp"
	"github.com/ironlb/ironlb/speaker/layer2"
	"github.com/ironlb/ironlb/speaker/loop"
	"github.com/ironlb/ironlb/speaker/members"
	"github.com/ironlb/ironlb/speaker/status"
	"github.com/ironlb/ironlb/speaker/watch"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// memberlistPort is memberlist's customary port, the one MetalLB uses.
const memberlistPort = 7946

type options struct {
	kubeconfig      string
	namespace       string
	nodeName        string
	host            string
	mlBindAddr      string
	mlBindPort      int
	mlLabels        string
	mlSecretKeyPath string
	podName         string
	ml              members.Options
	settleTimeout   time.Duration
	stalledHold     time.Duration
	watchInterval   time.Duration
	lbClass         string
	logLevel        string
	serving         cli.Serving
	tls             cli.TLS
	// ignoreExcludeLB announces from nodes labelled
	// node.kubernetes.io/exclude-from-external-load-balancers too.
	ignoreExcludeLB bool
	// excludeL2 is MetalLB's list of interfaces never announced on.
	excludeL2 string
	unused    cli.Unused
	// bgpGracefulShutdown and its wait: RFC 8326 on SIGTERM.
	bgpGracefulShutdown     bool
	bgpGracefulShutdownWait time.Duration
	// bgpListenPort: accept BGP peers' connections there; 0 for none.
	bgpListenPort uint
}

func bindFlags(fs *flag.FlagSet, o *options) *[]error {
	var errs []error
	cli.StringVar(fs, &o.kubeconfig, "kubeconfig", "KUBECONFIG", "", "path to a kubeconfig; empty means the in-cluster service account")
	cli.StringVar(fs, &o.namespace, "namespace", "METALLB_NAMESPACE", "", "namespace holding the metallb.io configuration and the speaker pods")
	cli.StringVar(fs, &o.nodeName, "node-name", "METALLB_NODE_NAME", "", "name of the Kubernetes node this speaker runs on (spec.nodeName)")
	cli.StringVar(fs, &o.host, "host", "METALLB_HOST", "", "this node's address (status.hostIP); kept for MetalLB pod specs")
	cli.StringVar(fs, &o.podName, "pod-name", "METALLB_POD_NAME", "", "this speaker's pod; its ServiceL2Status objects are owned by it")
	cli.StringVar(fs, &o.mlBindAddr, "ml-bindaddr", "METALLB_ML_BIND_ADDR", "", "address memberlist binds to (status.podIP); empty disables memberlist and falls back to Node readiness (slow)")
	cli.IntVar(fs, &o.mlBindPort, "ml-bindport", "METALLB_ML_BIND_PORT", memberlistPort, "port memberlist binds to, TCP and UDP", &errs)
	cli.StringVar(fs, &o.mlLabels, "ml-labels", "METALLB_ML_LABELS", compat.DefaultSpeakerLabels, "label selector of the speaker pods whose addresses memberlist joins")
	cli.StringVar(fs, &o.mlSecretKeyPath, "ml-secret-key-path", "METALLB_ML_SECRET_KEY_PATH", "", "directory holding the file 'secretkey' that encrypts memberlist traffic")
	o.ml = members.DefaultOptions()
	fs.DurationVar(&o.ml.ProbeInterval, "ml-probe-interval", o.ml.ProbeInterval, "memberlist: how often a random member is probed (detection starts within about this / (members-1))")
	fs.DurationVar(&o.ml.ProbeTimeout, "ml-probe-timeout", o.ml.ProbeTimeout, "memberlist: how long a direct probe waits before indirect probes are asked for")
	fs.DurationVar(&o.ml.GossipInterval, "ml-gossip-interval", o.ml.GossipInterval, "memberlist: how often news (a suspicion, a death) is sent to a few random members; each tick wakes the speaker even when there is no news")
	fs.DurationVar(&o.settleTimeout, "ml-settle-timeout", loop.DefaultSettleTimeout, "at start, announce nothing until the speakers of every other node with a speaker pod have joined, at most this long (then announce with the members known)")
	fs.DurationVar(&o.stalledHold, "ml-stalled-hold", loop.DefaultStalledHold, "a member memberlist declares dead whose speaker still accepts connections on its memberlist port (starved of CPU or frozen, not dead: its node still forwards) keeps its VIPs at most this long while it is asked to refute; one that refuses or does not answer within --ml-reach-timeout is taken over at once; negative: believe memberlist at once")
	fs.DurationVar(&o.watchInterval, "ml-watch-interval", loop.DefaultWatchInterval, "how often this speaker pings the members whose VIPs it would take over; two unanswered pings in a row start the check of a death without waiting for memberlist's verdict; negative: off (failover waits for memberlist)")
	fs.DurationVar(&o.ml.ReachTimeout, "ml-reach-timeout", o.ml.ReachTimeout, "how long the check of a member declared dead waits for its memberlist port to answer; every real failover waits this long more")
	fs.IntVar(&o.ml.SuspicionMult, "ml-suspicion-mult", o.ml.SuspicionMult, "memberlist: a suspect has SuspicionMult × max(1, log10(members+1)) × probe interval to refute before it is declared dead")
	fs.BoolVar(&o.bgpGracefulShutdown, "bgp-graceful-shutdown", false, "on SIGTERM, first re-advertise every BGP path with the GRACEFUL_SHUTDOWN community (65535:0, RFC 8326) and wait --bgp-graceful-shutdown-wait, so routers move traffic away before the paths are withdrawn; the pod's termination grace period must cover the wait")
	fs.UintVar(&o.bgpListenPort, "bgp-listen-port", 0, "a TCP port to accept the configured BGP peers' connections on, on every address of the node (179 is BGP's; below 1024 needs NET_BIND_SERVICE); 0 listens nowhere, as MetalLB's speakers, and the node opens every session")
	fs.DurationVar(&o.bgpGracefulShutdownWait, "bgp-graceful-shutdown-wait", bgp.DefaultGracefulShutdownWait, "with --bgp-graceful-shutdown: how long the marked paths stay before they are withdrawn")
	cli.StringVar(fs, &o.lbClass, "lb-class", "", "", "handle only Services whose spec.loadBalancerClass is this; empty means Services without a class")
	cli.StringVar(fs, &o.logLevel, "log-level", "", "info", "log level, one of: "+strings.Join(cli.LogLevels, ", "))
	fs.IntVar(&o.serving.MetricsPort, "port", 9120, "port serving Prometheus metrics at /metrics; 0 turns metrics off")
	fs.BoolVar(&o.serving.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to clients the apiserver authorizes (get on nonResourceURL /metrics); false serves plain HTTP")
	fs.IntVar(&o.serving.HealthProbePort, "health-probe-port", 17472, "port serving /healthz and /readyz; 0 turns them off")
	o.serving.BindMetalLB(fs)
	o.tls.Bind(fs)
	fs.BoolVar(&o.ignoreExcludeLB, "ignore-exclude-lb", false, "announce from nodes labelled "+compat.NodeExcludeLabel+" too (kubeadm and Talos label control-plane nodes so)")
	fs.StringVar(&o.excludeL2, "exclude-l2-config", layer2.ExcludeL2Path, "MetalLB's excludel2 file (the metallb-excludel2 ConfigMap): regular expressions of interfaces layer 2 never announces on; a missing file excludes only the built-in kinds (loopback, veths, CNI bridges, tunnels)")
	o.unused.Flag(fs, "enable-pprof", true, "use --pprof-bind-address")
	o.unused.Flag(fs, "ml-wan-config", true, "memberlist timings are set by --ml-probe-interval, --ml-probe-timeout and --ml-suspicion-mult")
	frr := "IronLB speaks BGP with its embedded GoBGP, never through FRR"
	o.unused.Flag(fs, "frrk8s-namespace", false, frr)
	o.unused.Flag(fs, "frrk8s-secret-passthrough", true, frr)
	o.unused.Flag(fs, "bgp-debounce-timeout", false, frr)
	o.unused.Env("FRRK8S_NAMESPACE", frr)
	o.unused.Env("METALLB_BGP_DEBOUNCE_TIMEOUT", frr)
	o.unused.Env("METALLB_BGP_TYPE", frr, "native")
	o.unused.Env("FRR_CONFIG_FILE", frr)
	o.unused.Env("FRR_RELOADER_PID_FILE", frr)
	o.unused.Env("FRR_LOGGING_LEVEL", frr)
	return &errs
}

func (o *options) validate() error {
	var errs []error
	errs = append(errs, cli.DefaultNamespace(&o.namespace, cli.ServiceAccountNamespaceFile))
	if o.nodeName == "" {
		errs = append(errs, errors.New("--node-name (or METALLB_NODE_NAME) is required: the speaker announces for its own node"))
	}
	if o.mlBindPort < 0 || o.mlBindPort > 65535 {
		errs = append(errs, fmt.Errorf("--ml-bindport %d: not a port", o.mlBindPort))
	}
	if o.settleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--ml-settle-timeout %s: must be positive", o.settleTimeout))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"ml-probe-interval", o.ml.ProbeInterval}, {"ml-probe-timeout", o.ml.ProbeTimeout}, {"ml-gossip-interval", o.ml.GossipInterval}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s %s: must be positive", d.flag, d.v))
		}
	}
	if o.bgpListenPort > 65535 {
		errs = append(errs, fmt.Errorf("--bgp-listen-port %d: not a TCP port", o.bgpListenPort))
	}
	if o.bgpGracefulShutdownWait <= 0 {
		errs = append(errs, fmt.Errorf("--bgp-graceful-shutdown-wait %s: must be positive", o.bgpGracefulShutdownWait))
	}
	errs = append(errs, cli.CheckLogLevel(o.logLevel))
	tlsOpt, err := o.tls.Options()
	errs = append(errs, err)
	o.serving.TLS = tlsOpt
	return errors.Join(errs...)
}

func main() {
	var o options
	cli.Program{
		Name:     "speaker",
		Unused:   &o.unused,
		Summary:  fmt.Sprintf("IronLB speaker %s: announces LoadBalancer IPs from this node.", version),
		Bind:     func(fs *flag.FlagSet) *[]error { return bindFlags(fs, &o) },
		Validate: o.validate,
		LogLevel: &o.logLevel,
		Run:      func(ctx context.Context, log logr.Logger) error { return run(ctx, o, log) },
	}.Main()
}

func run(ctx context.Context, o options, log logr.Logger) error {
	log.Info("starting speaker", "version", version, "node", o.nodeName, "namespace", o.namespace,
		"metricsPort", o.serving.MetricsPort, "healthProbePort", o.serving.HealthProbePort, "memberlist", o.mlBindAddr != "", "ignoreExcludeLB", o.ignoreExcludeLB)
	var ml *members.Members
	if o.mlBindAddr != "" {
		if o.mlSecretKeyPath == "" {
			return errors.New("memberlist is on (--ml-bindaddr is set) but --ml-secret-key-path is empty: refusing to run it unencrypted")
		}
		key, err := members.LoadSecretKey(o.mlSecretKeyPath)
		if err != nil {
			return err
		}
		mo := o.ml
		mo.NodeName, mo.BindAddr, mo.BindPort, mo.SecretKey, mo.Log = o.nodeName, o.mlBindAddr, o.mlBindPort, key, log.WithName("members")
		if ml, err = members.New(mo); err != nil {
			return err
		}
	} else {
		log.Info("memberlist disabled (no --ml-bindaddr): a node counts as alive while its Node is Ready, so failover waits for the node controller")
	}
	sel, err := labels.Parse(o.mlLabels)
	if err != nil {
		return fmt.Errorf("--ml-labels %q: %w", o.mlLabels, err)
	}

	cfg, err := cli.RESTConfig(o.kubeconfig, "ironlb-speaker/"+version)
	if err != nil {
		return err
	}
	// Pods' ages are told on the clock that stamped them, not this node's.
	apiserverClock := kube.NewServerClock(nil)
	cfg.Wrap(apiserverClock.Wrap)
	scheme, err := cli.NewScheme()
	if err != nil {
		return err
	}
	mopts := o.serving.ManagerOptions(scheme)
	mopts.Cache = cli.ConfigCacheOptions(o.namespace)
	mopts.Cache.ByObject[&corev1.Pod{}] = cache.ByObject{Namespaces: map[string]cache.Config{o.namespace: {}}}
	// BGPPeers' password Secrets: the speaker may read only its own namespace's.
	mopts.Cache.ByObject[&corev1.Secret{}] = cache.ByObject{Namespaces: map[string]cache.Config{o.namespace: {}}}
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	sm, err := metrics.NewSpeaker(ctrlmetrics.Registry, o.nodeName)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}

	updates := make(chan loop.Update, updatesBuffer)
	recorder := mgr.GetEventRecorder(compat.SpeakerComponent)
	announcer := layer2.New(layer2.Options{Log: log.WithName("layer2"), Metrics: sm})
	st := &status.L2{Client: mgr.GetClient(), Namespace: o.namespace, NodeName: o.nodeName, Recorder: recorder}
	bgpStatus := &status.BGP{Client: mgr.GetClient(), Namespace: o.namespace, NodeName: o.nodeName, Recorder: recorder}
	// Its DaemonSet, "namespace/name": an L2Advertisement may be silenced
	// for it during a switch between MetalLB and IronLB (config.ForSpeakers).
	var speakerSet string
	if o.podName != "" {
		owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: o.podName}}
		if err := mgr.GetAPIReader().Get(ctx, types.NamespacedName{Namespace: o.namespace, Name: o.podName}, owner); err != nil {
			log.Info("speaker pod not found; its ServiceL2Status and ServiceBGPStatus objects will have no owner", "pod", o.podName, "reason", err.Error())
		} else {
			st.Owner, bgpStatus.Owner = owner, owner
			if ref := metav1.GetControllerOf(owner); ref != nil && ref.Kind == "DaemonSet" {
				speakerSet = o.namespace + "/" + ref.Name
			}
		}
	}
	log.Info("this speaker's DaemonSet, for L2Advertisements silenced for it", "speakers", speakerSet)
	// The BGP speaker runs for the process's life; when the context ends
	// (SIGTERM) its Run withdraws every path, waits for the withdrawals to
	// be sent (bounded by bgp.DefaultWithdrawTimeout, well inside the pod's
	// grace period) and closes the sessions.
	// The Setter needs the speaker and the speaker tells it of BFD
	// changes; it exists before the speaker runs, so before any.
	var bgpSetter *bgpapply.Setter
	bgpSpeaker := bgp.New(bgp.Options{Log: log.WithName("bgp"), Metrics: sm, BFDMetrics: sm,
		OnBFDChange:      func(peer string, up bool, diag string) { bgpSetter.BFDChanged(peer, up, diag) },
		GracefulShutdown: o.bgpGracefulShutdown, GracefulShutdownWait: o.bgpGracefulShutdownWait, ListenPort: uint16(o.bgpListenPort),
		NodeAddresses: bgpapply.NodeAddresses(ctx, mgr.GetAPIReader(), o.nodeName, o.host, o.mlBindAddr, log)})
	bgpSetter = &bgpapply.Setter{Speaker: bgpSpeaker, Client: mgr.GetClient(), Namespace: o.namespace, Recorder: recorder, Log: log.WithName("bgp")}
	alive := []string{o.nodeName}
	exclude, err := layer2.LoadExcludeL2(o.excludeL2)
	if err != nil {
		return err
	}
	if exclude != nil {
		log.Info("layer 2 leaves out interfaces matching the excludel2 list", "file", o.excludeL2, "pattern", exclude.String())
	}
	usable := layer2.UsableInterfacesExcept(exclude)
	// Interfaces and addresses that appear after start are announced on
	// as the kernel reports them.
	ifaces := ifwatch.New(usable, log.WithName("interfaces"))
	lp := &loop.Loop{Agent: agent.New(o.nodeName, alive), Updates: updates, Announcer: announcer, Status: st,
		Interfaces: usable, Present: layer2.PresentInterfacesExcept(exclude), InterfacesChanged: ifaces.Changed(), Log: log.WithName("loop"), Metrics: sm, SettleTimeout: o.settleTimeout,
		BGP:       bgpSetter,
		BGPStatus: bgpStatus}
	services := &watch.Services{Client: mgr.GetClient(), LBClass: o.lbClass, Out: updates}
	nodes := &watch.Nodes{Client: mgr.GetClient(), Out: updates, MembershipFromReadiness: ml == nil, IgnoreExcludeLB: o.ignoreExcludeLB}
	configState := &kube.ConfigStateReporter{Reader: mgr.GetAPIReader(), Client: mgr.GetClient(), Namespace: o.namespace,
		Name:      kube.ConfigurationStateSpeaker(o.nodeName),
		Labels:    map[string]string{kube.LabelComponentType: "speaker", kube.LabelNodeName: o.nodeName},
		Condition: kube.ConditionSpeakerConfig}
	if st.Owner != nil {
		configState.Owner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: st.Owner.GetName(), UID: st.Owner.GetUID()}
	}
	cfgWatch := &watch.Config{Client: mgr.GetClient(), Namespace: o.namespace, Out: updates, Metrics: sm.Client, ConfigState: configState,
		Log: log.WithName("config"), Recorder: recorder, SpeakerSet: speakerSet}
	initial := watch.NewInitial(mgr.GetCache(), mgr.GetClient(), services, nodes, cfgWatch)
	setups := []interface{ SetupWithManager(ctrl.Manager) error }{st, bgpStatus, services, nodes, cfgWatch}
	runnables := []manager.RunnableFunc{announcer.Run, bgpSpeaker.Run, lp.Run, initial.Start, ifaces.Run}
	if ml != nil {
		lp.Members, lp.Reacher, lp.StalledHold = ml, ml, o.stalledHold
		lp.Watcher, lp.WatchInterval = ml, o.watchInterval
		// Before believing deaths: is this node the one cut off?
		connected, err := kube.APIServerAnswers(cfg)
		if err != nil {
			return err
		}
		lp.Witnesses, lp.Connected = ml.Witnesses, connected
		setups = append(setups, &watch.Peers{Client: mgr.GetClient(), Namespace: o.namespace, Selector: sel,
			NodeName: o.nodeName, Port: o.mlBindPort, Members: ml, Log: log.WithName("peers"), Ready: initial.Done(), SettleWindow: o.settleTimeout,
			Now: apiserverClock.Now, Rejoin: watch.DefaultRejoinInterval})
		runnables = append(runnables, ml.Start)
	}
	for _, s := range setups {
		if err := s.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	for _, r := range runnables {
		if err := mgr.Add(r); err != nil {
			return err
		}
	}
	if err := cli.AddHealthChecks(mgr); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// updatesBuffer lets watchers report a burst (every Service at start)
// without waiting on the loop.
const updatesBuffer = 4096
