package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/test/lab/cluster"
)

func createCluster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("create cluster", flag.ContinueOnError)
	name := fs.String("name", "", "cluster name (default: the config's name, else myk8s)")
	config := fs.String("config", "", "kind.x-k8s.io/v1alpha4 Cluster config (default: 1 control-plane, 3 workers)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to merge the cluster's context into (default $KUBECONFIG or ~/.kube/config; - for none)")
	withImages := fs.Bool("images", true, "build pause and whoami from this IronLB clone, import them into every node and serve them from a registry on the gateway (172.20.0.1:5000) that nodes pull docker.io, registry.k8s.io, quay.io and ghcr.io from")
	bin := fs.String("bin-dir", "", "Kubernetes binaries (default: the cache of hack/k8s-binaries.sh)")
	wait := fs.Duration("wait", 3*time.Minute, "how long to wait for every Node to be Ready")
	retain := fs.Bool("retain", false, "keep a cluster that failed to come up, for its logs (delete cluster removes it)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	cfg := cluster.DefaultConfig()
	if *config != "" {
		b, err := os.ReadFile(*config)
		if err != nil {
			return err
		}
		if cfg, err = cluster.ParseConfig(b); err != nil {
			return fmt.Errorf("%s: %w", *config, err)
		}
	}
	if *name == "" {
		*name = cfg.Name
	}
	if *name == "" {
		*name = "myk8s"
	}
	fmt.Fprintf(os.Stderr, "Creating cluster %q ...\n", *name)
	o := cluster.Options{BinDir: *bin, Kubeconfig: *kubeconfig, Wait: *wait, Retain: *retain}
	if *withImages {
		p := cluster.NewPrinter(os.Stderr)
		done := p.Step("Building the lab images (pause, whoami) and registry 🖼️")
		var err error
		o.Images, o.RegistryBinary, err = cluster.LabImages(ctx)
		done(err)
		if err != nil {
			return fmt.Errorf("%w (outside an IronLB clone, use --images=false)", err)
		}
	}
	s, err := cluster.Create(ctx, *name, cfg, cluster.NewPrinter(os.Stderr), o)
	if err != nil {
		return err
	}
	if s.Kubeconfig != "" {
		fmt.Fprintf(os.Stderr, "Set kubectl context to %q (in %s)\n", "ironlab-"+*name, s.Kubeconfig)
	}
	fmt.Fprintf(os.Stderr, "You can now use your cluster with:\n\nkubectl cluster-info --context ironlab-%s\n", *name)
	return nil
}

func clientAdd(args []string) error {
	fs := flag.NewFlagSet("client add", flag.ContinueOnError)
	name := fs.String("name", "myk8s", "cluster name")
	ip := fs.String("ip", "", "the client's address on the lab network, e.g. 172.20.0.100")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *ip == "" {
		return fmt.Errorf("client add NAME --ip IP")
	}
	s, err := cluster.Load(*name)
	if err != nil {
		return err
	}
	return s.AddClient(pos[0], *ip)
}

// execNode runs a command in a node's (or client's) network namespace,
// with the node's containerd as ctr's default, like `docker exec`.
func execNode(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("exec NODE -- CMD [ARG...]")
	}
	s, err := nodeCluster(args[0])
	if err != nil {
		return err
	}
	cmd := s.Command(args[0], trimDashes(args[1:])...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return exitError(ee.ExitCode())
		}
		return err
	}
	return nil
}

func nodeCmd(args []string) error {
	if len(args) < 2 {
		return flag.ErrHelp
	}
	op := args[0]
	fs := flag.NewFlagSet("node "+op, flag.ContinueOnError)
	sig := fs.Int("signal", 9, "stop: 9 kills every process of the node at once, 15 stops it gracefully")
	name := fs.String("name", "", "cluster name (default: the cluster that has the node)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("node %s NAME", op)
	}
	if *sig != 9 && *sig != 15 {
		return fmt.Errorf("--signal %d: want 9 or 15", *sig)
	}
	signalSet := false
	fs.Visit(func(f *flag.Flag) { signalSet = signalSet || f.Name == "signal" })
	if signalSet && op != "stop" {
		return fmt.Errorf("node %s: --signal applies to node stop only", op)
	}
	s, err := clusterOfNode(*name, pos[0])
	if err != nil {
		return err
	}
	switch op {
	case "stop":
		return s.StopNode(pos[0], syscall.Signal(*sig))
	case "start":
		return s.StartNode(pos[0])
	case "pause":
		return s.PauseNode(pos[0], true)
	case "unpause":
		return s.PauseNode(pos[0], false)
	}
	return flag.ErrHelp
}
