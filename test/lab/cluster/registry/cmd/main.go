// Command registry runs the lab's image registry (package
// test/cluster/registry) as a long-lived process until SIGTERM or SIGINT:
//
//	go build -o bin/ironlab-registry ./test/cluster/registry/cmd
//	ironlab-registry --addr 172.20.0.1:5000 --dir /var/lib/ironlab/registry
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/ironlb/ironlb/test/lab/cluster/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "host:port to listen on")
	dir := flag.String("dir", "", "directory for blobs and manifests, kept across restarts; empty keeps them in memory")
	verbose := flag.Bool("v", false, "log every request to stderr")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg := registry.Config{Dir: *dir}
	if *verbose {
		cfg.Log = log.New(os.Stderr, "registry: ", log.LstdFlags)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "registry: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "registry: serving on %s\n", ln.Addr())
	if err := registry.ServeListener(ctx, ln, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
