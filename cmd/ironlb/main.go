// Command ironlb is IronLB's operator tool. `ironlb migrate from-metallb`
// switches a cluster running MetalLB to IronLB (and `to-metallb` back)
// without changing an IP or losing a configuration object: it inspects the
// cluster, prints every object it will change and what the user will
// notice, and, without --dry-run, hands the metallb.io CRDs over.
// `remove-metallb` then deletes a manifest or kustomize install of MetalLB
// except what must stay (its Namespace, the CRDs, the configuration).
// `silence-metallb` and `silence-ironlb` make one speaker set withdraw from
// layer 2 at once while the other answers every VIP, so that removing it
// moves no VIP; `unsilence` undoes that once it is gone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/cli"
	"github.com/ironlb/ironlb/internal/migrate"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Usage:
  ironlb migrate from-metallb [flags]   hand a MetalLB installation's CRDs to IronLB's Helm release
  ironlb migrate to-metallb [flags]     hand them back to MetalLB's release
  ironlb migrate remove-metallb --manifest FILE [flags]
                                        delete MetalLB installed from FILE (its manifest, or
                                        kubectl kustomize's output; - reads stdin) but its
                                        Namespace, CRDs and configuration (MetalLB's speakers
                                        silenced first, so their departures move no VIP)
  ironlb migrate silence-metallb [flags]
                                        before removing MetalLB: its speakers withdraw from
                                        layer 2 at once (IronLB's, beside them, keep answering)
  ironlb migrate silence-ironlb [flags] before removing IronLB (the way back): the same for its speakers
  ironlb migrate unsilence [flags]      once the silenced speakers are gone: undo the silence
  ironlb version

docs/migration.md is the whole procedure. Flags of migrate:
`

type options struct {
	kubeconfig string
	namespace  string
	release    string
	chart      string
	manifest   string
	noRelease  bool
	dryRun     bool
	speakers   string
	timeout    time.Duration
}

var subcommands = []string{"from-metallb", "to-metallb", "remove-metallb", "silence-metallb", "silence-ironlb", "unsilence"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	var usageErr usageError
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprintf(os.Stderr, "ironlb: %v\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "ironlb: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) >= 1 && args[0] == "version" {
		fmt.Fprintln(out, "ironlb", version)
		return nil
	}
	if len(args) < 2 || args[0] != "migrate" || !slices.Contains(subcommands, args[1]) {
		fmt.Fprint(os.Stderr, usage)
		newFlags(&options{}).PrintDefaults()
		return usageError{fmt.Errorf("want `migrate %s` or `version`", strings.Join(subcommands, "`, `migrate "))}
	}
	direction := args[1]
	var o options
	fs := newFlags(&o)
	if direction == "to-metallb" {
		fs.Lookup("release").DefValue, o.release = "metallb", "metallb"
	}
	if err := fs.Parse(args[2:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if (direction == "remove-metallb") != (o.manifest != "") {
		return usageError{errors.New("--manifest is what `migrate remove-metallb` removes, and only it takes one")}
	}
	if o.speakers != "" && !strings.HasPrefix(direction, "silence-") {
		return usageError{errors.New("--speakers is for `migrate silence-metallb` and `migrate silence-ironlb` only")}
	}
	if o.noRelease {
		if direction != "to-metallb" {
			return usageError{errors.New("--no-release is for `migrate to-metallb` only")}
		}
		if fs.Lookup("release").Value.String() != "metallb" {
			return usageError{errors.New("--no-release and --release exclude each other")}
		}
		o.release = ""
	}
	cfg, err := cli.RESTConfig(o.kubeconfig, "ironlb-migrate/"+version)
	if err != nil {
		return err
	}
	scheme, err := cli.NewScheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	switch direction {
	case "remove-metallb":
		return removeMetalLB(ctx, c, o, out)
	case "silence-metallb", "silence-ironlb":
		if err := silence(ctx, c, o, direction == "silence-metallb", out); err != nil || o.dryRun {
			return err
		}
		fmt.Fprintf(out, "\nNext: remove them (their departures move no VIP now), then `ironlb migrate unsilence --namespace %s`.\n", o.namespace)
		return nil
	case "unsilence":
		return unsilence(ctx, c, o, out)
	}
	inv, err := migrate.Inspect(ctx, c, o.namespace)
	if err != nil {
		return err
	}
	target := migrate.Target{Release: o.release, Namespace: o.namespace}
	steps, err := migrate.Plan(inv, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "In the cluster:\n")
	for _, l := range inv.Summary() {
		fmt.Fprintf(out, "  %s\n", l)
	}
	verb := "Changing"
	if o.dryRun {
		verb = "Would change (--dry-run: nothing is changed)"
	}
	if len(steps) == 0 {
		fmt.Fprintf(out, "\nNothing to change: the CRDs are %s's already.\n", target)
	} else {
		fmt.Fprintf(out, "\n%s:\n", verb)
		for i, s := range steps {
			fmt.Fprintf(out, "  %d. %s: %s\n", i+1, s.Object, s.Change)
		}
	}
	if !o.dryRun {
		if err := migrate.Apply(ctx, c, o.namespace, target, steps); err != nil {
			return fmt.Errorf("%w (run the command again to finish: every step is idempotent)", err)
		}
		if len(steps) > 0 {
			fmt.Fprintf(out, "Done: %d objects changed.\n", len(steps))
		}
	}
	fmt.Fprintf(out, "\nNext:\n%s", nextSteps(direction, inv, o))
	if direction == "from-metallb" {
		fmt.Fprintf(out, "\nWhat you will notice (docs/migration.md has the reasons):\n")
		for _, d := range migrate.Differences {
			fmt.Fprintf(out, "  - %s\n", d)
		}
	}
	return nil
}

func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("ironlb migrate", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig; empty: in-cluster or ~/.kube/config")
	fs.StringVar(&o.namespace, "namespace", "metallb-system", "namespace MetalLB runs in, where IronLB runs too (the configuration stays there)")
	fs.StringVar(&o.release, "release", "ironlb", "Helm release the CRDs go to: IronLB's (from-metallb) or MetalLB's (to-metallb)")
	fs.StringVar(&o.chart, "chart", "charts/ironlb", "IronLB's chart, for the printed helm command")
	fs.StringVar(&o.manifest, "manifest", "", "remove-metallb: the manifest MetalLB was installed from (metallb-native.yaml, or `kubectl kustomize DIR` output; - reads stdin)")
	fs.BoolVar(&o.noRelease, "no-release", false, "to-metallb: MetalLB goes back in from its manifests or kustomize: the CRDs get no Helm owner (kubectl apply takes them) instead of going to --release")
	fs.BoolVar(&o.dryRun, "dry-run", false, "inspect and print what would change; change nothing")
	fs.StringVar(&o.speakers, "speakers", "", "silence-metallb: MetalLB's speaker DaemonSet (default: the one speaker DaemonSet besides RELEASE-speaker);\n"+
		"silence-ironlb: the speaker DaemonSet that keeps announcing (same default)")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "silence-*: how long to wait for the silenced speakers to withdraw; unsilence and remove-metallb: for the removed speakers to be gone")
	return fs
}

func nextSteps(direction string, inv migrate.Inventory, o options) string {
	var b strings.Builder
	owners := inv.Owners()
	if direction == "from-metallb" {
		fmt.Fprintf(&b, "  1. Install IronLB beside MetalLB, on ports of its own so both speakers can run on every node\n"+
			"     (each VIP is answered from the same node with the same MAC by both):\n"+
			"       helm install %s %s -n %s --set crds.enabled=true \\\n"+
			"         --set speaker.memberlist.mlBindPort=7947 --set prometheus.metricsPort=9121 \\\n"+
			"         --set speaker.memberlist.settleTimeout=2m --wait\n", o.release, o.chart, o.namespace)
		var releases []string
		for _, r := range owners {
			if _, name, _ := strings.Cut(r, "/"); name != o.release {
				releases = append(releases, name)
			}
		}
		if len(releases) > 0 {
			fmt.Fprintf(&b, "  2. Silence MetalLB's speakers: they withdraw from layer 2 at once while IronLB's answer every VIP,\n"+
				"     so none of them takes over another's VIPs while they stop:\n"+
				"       ironlb migrate silence-metallb --namespace %s --release %s\n", o.namespace, o.release)
			b.WriteString("     then remove MetalLB as its documentation says (the CRDs and the configuration stay), and undo the silence:\n")
			for _, name := range releases {
				fmt.Fprintf(&b, "       helm uninstall %s -n %s --wait\n", name, o.namespace)
			}
			fmt.Fprintf(&b, "       ironlb migrate unsilence --namespace %s\n", o.namespace)
		} else {
			fmt.Fprintf(&b, "  2. Remove MetalLB (manifests or kustomize): never `kubectl delete -f` the manifest, which deletes the Namespace and\n"+
				"     the CRDs and every configuration object with them; this silences MetalLB's speakers, deletes the rest and\n"+
				"     undoes the silence once they are gone:\n"+
				"       ironlb migrate remove-metallb --namespace %s --manifest metallb-native.yaml\n"+
				"       kubectl kustomize DIR | ironlb migrate remove-metallb --namespace %s --manifest -\n", o.namespace, o.namespace)
		}
		b.WriteString("  3. Optionally move IronLB to the default ports afterwards (a rolling restart of the speakers):\n" +
			"       helm upgrade " + o.release + " " + o.chart + " -n " + o.namespace + " --reuse-values \\\n" +
			"         --set speaker.memberlist.mlBindPort=7946 --set prometheus.metricsPort=9120\n")
		return b.String()
	}
	if o.release == "" {
		fmt.Fprintf(&b, "  1. Apply MetalLB's manifest (kubectl apply -f metallb-native.yaml, or -k): it takes the CRDs;\n"+
			"     its speakers must not use IronLB's ports (memberlist, metrics, health) while both run.\n")
		for _, r := range owners {
			ns, name, _ := strings.Cut(r, "/")
			fmt.Fprint(&b, removeIronLB(name, ns))
		}
		return b.String()
	}
	fmt.Fprintf(&b, "  1. Install MetalLB with its chart as release %s in %s (its crds subchart adopts the CRDs);\n"+
		"     IronLB's speakers use other ports, so both run side by side.\n", o.release, o.namespace)
	for _, r := range owners {
		if _, name, _ := strings.Cut(r, "/"); name != o.release {
			fmt.Fprint(&b, removeIronLB(name, o.namespace))
		}
	}
	return b.String()
}

// removeIronLB is the way back's last step: IronLB's speakers silenced,
// uninstalled, the silence undone.
func removeIronLB(release, namespace string) string {
	return fmt.Sprintf("  2. Silence IronLB's speakers (MetalLB's answer every VIP), uninstall IronLB (the CRDs and the configuration stay),\n"+
		"     and undo the silence:\n"+
		"       ironlb migrate silence-ironlb --namespace %[2]s --release %[1]s\n"+
		"       helm uninstall %[1]s -n %[2]s --wait\n"+
		"       ironlb migrate unsilence --namespace %[2]s\n", release, namespace)
}

// removeMetalLB deletes what MetalLB's manifest created but its Namespace,
// CRDs and configuration, once IronLB's speakers run beside MetalLB's.
func removeMetalLB(ctx context.Context, c client.Client, o options, out io.Writer) error {
	var data []byte
	var err error
	if o.manifest == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(o.manifest)
	}
	if err != nil {
		return fmt.Errorf("reading MetalLB's manifest: %w", err)
	}
	objs, err := migrate.ReadManifest(data)
	if err != nil {
		return fmt.Errorf("MetalLB's manifest %s: %w", o.manifest, err)
	}
	remove, keep, err := migrate.RemovalPlan(objs, o.namespace, migrate.Namespaced(c))
	if err != nil {
		return err
	}
	verb := "Removing"
	if o.dryRun {
		verb = "Would remove (--dry-run: nothing is removed)"
	}
	fmt.Fprintf(out, "%s, in this order:\n", verb)
	for i, r := range remove {
		fmt.Fprintf(out, "  %d. %s\n", i+1, r)
	}
	fmt.Fprintf(out, "Keeping:\n")
	for _, k := range keep {
		fmt.Fprintf(out, "  %s: %s\n", k.Object, k.Reason)
	}
	if err := migrate.CheckReplacement(ctx, c, o.namespace, remove); err != nil {
		if o.dryRun {
			fmt.Fprintf(out, "Would refuse now: %v\n", err)
			return nil
		}
		return err
	}
	sets, err := migrate.SpeakerSets(ctx, c, o.namespace)
	if err != nil {
		return err
	}
	var speakers []string
	for _, r := range remove {
		if _, ok := sets[r.Name]; ok && r.Kind == "DaemonSet" {
			speakers = append(speakers, r.Name)
		}
	}
	if o.dryRun {
		for _, ds := range speakers {
			fmt.Fprintf(out, "Before removing: would silence the speakers of DaemonSet %s/%s (`ironlb migrate silence-metallb`); after: would undo the silence once they are gone.\n", o.namespace, ds)
		}
		return nil
	}
	// Silenced first, MetalLB's speakers withdraw together; removed
	// silenced, none of them takes over the VIPs of one already gone.
	for _, ds := range speakers {
		so := o
		so.speakers = ds
		if err := silence(ctx, c, so, true, out); err != nil {
			return err
		}
	}
	if err := migrate.Remove(ctx, c, remove); err != nil {
		return fmt.Errorf("%w (run the command again to finish)", err)
	}
	fmt.Fprintf(out, "Done: %d objects removed.\n", len(remove))
	if len(speakers) > 0 {
		return unsilence(ctx, c, o, out)
	}
	return nil
}
