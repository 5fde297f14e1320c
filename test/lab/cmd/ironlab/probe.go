package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/test/lab/cluster"
	"github.com/ironlb/ironlb/test/probe"
)

// clientProbe runs the lab prober from a client: every LoadBalancer VIP of
// the cluster asked over ARP and HTTP every interval, outages printed as
// they end, metrics on the client's address for Prometheus, optionally
// every probe to a CSV. Until Ctrl-C.
func clientProbe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("client probe", flag.ContinueOnError)
	name := fs.String("name", "myk8s", "cluster name")
	interval := fs.Duration("interval", probe.DefaultInterval, "time between two probes of a VIP (ARP and HTTP each)")
	port := fs.Int("metrics-port", 9200, "port of /metrics on the client's address (0: none)")
	csvPath := fs.String("csv", "", "write every probe to this CSV file")
	verbose := fs.Bool("v", false, "log every VIP probed and dropped")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("client probe CLIENT [--name myk8s] [--interval 20ms] [--metrics-port 9200] [--csv FILE]")
	}
	s, err := cluster.Load(*name)
	if err != nil {
		return err
	}
	var client *cluster.Client
	for i := range s.Clients {
		if s.Clients[i].Name == pos[0] {
			client = &s.Clients[i]
		}
	}
	if client == nil {
		return fmt.Errorf("cluster %s has no client %q (ironlab client add %s --ip IP)", *name, pos[0], pos[0])
	}
	cs, err := s.Client()
	if err != nil {
		return err
	}
	log := logr.Discard()
	if *verbose {
		log = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	}
	o := probe.Options{
		NetNS: cluster.NetnsPath(client.Name), Interval: *interval, Targets: probe.ServiceTargets(cs), Log: log,
		OnOutage: func(t probe.Target, k probe.Kind, d time.Duration) {
			fmt.Printf("%s  %-20s %-15s %-4s outage %v\n", time.Now().Format("15:04:05.000"), t.Service, t.IP, k, d.Round(time.Millisecond))
		},
	}
	if *csvPath != "" {
		f, err := os.Create(*csvPath)
		if err != nil {
			return err
		}
		defer f.Close()
		o.CSV = f
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if *port != 0 {
		reg := prometheus.NewRegistry()
		o.Registerer = reg
		addr := net.JoinHostPort(client.IP, strconv.Itoa(*port))
		fmt.Fprintf(os.Stderr, "probing from %s; metrics on http://%s/metrics; Ctrl-C stops\n", client.Name, addr)
		wg.Go(func() { errs <- probe.ServeMetrics(ctx, o.NetNS, addr, reg) })
	}
	wg.Go(func() { errs <- probe.Run(ctx, o) })
	err = <-errs // the first to end ends both
	cancel()
	wg.Wait()
	return err
}
