// Command ironlab runs a real multi-node Kubernetes in network namespaces
// on one Linux host, with kind's commands and config: see test/cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ironlb/ironlb/test/lab/cluster"
)

const usage = `ironlab: kind's clusters as network namespaces on this machine (root).

  ironlab create cluster [--name myk8s] [--config kind.yaml] [--kubeconfig FILE] [--images=true] [--wait 3m]
  ironlab delete cluster [--name myk8s]
  ironlab get clusters | nodes [--name myk8s] | kubeconfig [--name myk8s]
  ironlab load image-archive FILE [--name myk8s]
  ironlab exec NODE -- CMD [ARG...]
  ironlab client add NAME --ip IP [--name myk8s] | client delete NAME [--name myk8s]
  ironlab client probe NAME [--name myk8s] [--interval 20ms] [--metrics-port 9200] [--csv FILE]
  ironlab node stop NAME [--signal 9|15] | start NAME | pause NAME | unpause NAME   (each [--name CLUSTER]; default: the cluster that has NAME)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	var exit exitError
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "ironlab:", err)
		os.Exit(1)
	}
}

// exitError carries a command's exit status through exec.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return flag.ErrHelp
	}
	verb, rest := args[0], args[1:]
	noun := ""
	if len(rest) > 0 {
		noun = rest[0]
	}
	switch verb + " " + noun {
	case "create cluster":
		return createCluster(ctx, rest[1:])
	case "delete cluster":
		name, _, err := nameFlag("delete cluster", rest[1:], 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Deleting cluster %q ...\n", name)
		return cluster.Delete(name)
	case "get clusters":
		names, err := cluster.List()
		if err != nil {
			return err
		}
		if len(names) == 0 {
			fmt.Fprintln(os.Stderr, "No ironlab clusters found.")
		}
		for _, n := range names {
			fmt.Println(n)
		}
		return nil
	case "get nodes", "get kubeconfig":
		name, _, err := nameFlag(verb+" "+noun, rest[1:], 0)
		if err != nil {
			return err
		}
		s, err := cluster.Load(name)
		if err != nil {
			return err
		}
		if noun == "kubeconfig" {
			b, err := os.ReadFile(s.KubeconfigPath())
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(b)
			return err
		}
		for _, n := range s.Plan.Nodes {
			fmt.Println(n.Name)
		}
		return nil
	case "load image-archive":
		name, pos, err := nameFlag("load image-archive", rest[1:], 1)
		if err != nil {
			return err
		}
		s, err := cluster.Load(name)
		if err != nil {
			return err
		}
		return s.LoadImageArchive(ctx, pos[0])
	case "client add":
		return clientAdd(rest[1:])
	case "client probe":
		return clientProbe(ctx, rest[1:])
	case "client delete":
		name, pos, err := nameFlag("client delete", rest[1:], 1)
		if err != nil {
			return err
		}
		s, err := cluster.Load(name)
		if err != nil {
			return err
		}
		return s.RemoveClient(pos[0])
	}
	switch verb {
	case "exec":
		return execNode(args[1:])
	case "node":
		return nodeCmd(rest)
	}
	return flag.ErrHelp
}

// nameFlag parses --name and wants exactly n positional arguments.
func nameFlag(cmd string, args []string, n int) (string, []string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	name := fs.String("name", "myk8s", "cluster name")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) != n {
		return "", nil, fmt.Errorf("%s: want %d argument(s), got %q", cmd, n, pos)
	}
	return *name, pos, nil
}

// parseInterspersed allows flags after positional arguments, as kind does.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// clusterOfNode loads the named cluster and checks that it has node, or,
// with no name, finds the cluster that has it.
func clusterOfNode(name, node string) (*cluster.State, error) {
	if name == "" {
		return nodeCluster(node)
	}
	s, err := cluster.Load(name)
	if err != nil {
		return nil, err
	}
	if _, ok := s.NodeIP(node); !ok {
		return nil, fmt.Errorf("cluster %q has no node or client %q (ironlab get nodes --name %s)", name, node, name)
	}
	return s, nil
}

// nodeCluster finds the cluster a node or client belongs to.
func nodeCluster(node string) (*cluster.State, error) {
	names, err := cluster.List()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		s, err := cluster.Load(n)
		if err != nil {
			continue
		}
		if _, ok := s.NodeIP(node); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no cluster has a node or client %q (ironlab get nodes)", node)
}

func trimDashes(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}
