// Command whoami is a small HTTP server that stands in for traefik/whoami in
// IronLB's lab: GET / prints the serving host's name and addresses, the
// client's address and the request. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Names of the environment variables that set the port: ours, and the one
// traefik/whoami reads, so manifests written for it work unchanged.
var portEnvs = []string{"WHOAMI_PORT", "WHOAMI_PORT_NUMBER"}

const (
	defaultPort = 80
	// shutdownGrace bounds how long in-flight requests may finish after
	// SIGTERM; well inside Kubernetes' default 30 s termination grace.
	shutdownGrace = 10 * time.Second
	// readHeaderTimeout keeps idle half-open clients from holding goroutines.
	readHeaderTimeout = 10 * time.Second
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Printf("whoami: %v", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	port, err := portFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	fs.IntVar(&port, "port", port, "TCP port to listen on (env "+portEnvs[0]+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	log.Printf("whoami: listening on %s", ln.Addr())
	return serve(ctx, ln, handler{hostname: os.Hostname, addrs: net.InterfaceAddrs})
}

// portFromEnv reads the first port variable that is set, else the default.
func portFromEnv(lookup func(string) (string, bool)) (int, error) {
	for _, name := range portEnvs {
		if v, ok := lookup(name); ok && v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return 0, fmt.Errorf("%s=%q: want a port number 1-65535", name, v)
			}
			return p, nil
		}
	}
	return defaultPort, nil
}

// serve answers on ln until ctx ends, then lets requests in flight finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
