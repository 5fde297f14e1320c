// Package registry runs the lab's image registry: an OCI distribution server
// (go-containerregistry's) that every node's containerd uses in place of
// docker.io, registry.k8s.io, quay.io and ghcr.io, so nothing is pulled from
// outside the machine. Blobs can live on disk; manifests live in memory, so
// whoever starts the registry pushes the images it should serve.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// Config says where blobs go and where request logs go.
type Config struct {
	// Dir holds blobs (created if missing); empty keeps them in memory. On
	// disk, a restarted registry still has every layer, so re-pushing the
	// images uploads only their manifests.
	Dir string
	// Log gets one line per request; nil discards them.
	Log *log.Logger
}

const (
	// shutdownGrace bounds how long uploads in flight may finish once the
	// context ends; a lab image is a few MB over loopback or a bridge.
	shutdownGrace = 5 * time.Second
	// readHeaderTimeout frees connections of clients that never send a request.
	readHeaderTimeout = 10 * time.Second
)

// Handler returns the registry as an http.Handler, for callers that serve it
// themselves (tests with httptest, a server with other routes).
func Handler(cfg Config) (http.Handler, error) {
	logger := cfg.Log
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	opts := []ggcrregistry.Option{ggcrregistry.Logger(logger)}
	if cfg.Dir != "" {
		// The disk handler creates the temporary upload files in Dir before
		// it makes any directory, so Dir must exist first.
		if err := os.MkdirAll(filepath.Join(cfg.Dir, "sha256"), 0o755); err != nil {
			return nil, fmt.Errorf("registry blob directory: %w", err)
		}
		opts = append(opts, ggcrregistry.WithBlobHandler(ggcrregistry.NewDiskBlobHandler(cfg.Dir)))
	}
	return ggcrregistry.New(opts...), nil
}

// Serve listens on addr ("172.20.0.1:5000") and serves the registry until
// ctx ends, then lets requests in flight finish. It returns nil after a
// clean stop, or why it could not listen or serve.
func Serve(ctx context.Context, addr string, cfg Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return ServeListener(ctx, ln, cfg)
}

// ServeListener is Serve on a listener the caller opened (and Serve closes).
func ServeListener(ctx context.Context, ln net.Listener, cfg Config) error {
	h, err := Handler(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("registry on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("registry on %s: %w", ln.Addr(), err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("registry on %s: stopping: %w", ln.Addr(), shutdownErr)
	}
	return nil
}

// readyPoll is how often WaitReady asks; a registry starts in milliseconds.
const readyPoll = 50 * time.Millisecond

// WaitReady returns once the registry at addr answers GET /v2/ with 200, or
// ctx's error: for a launcher that started Serve in another process.
func WaitReady(ctx context.Context, addr string) error {
	client := &http.Client{Timeout: time.Second}
	url := "http://" + addr + "/v2/"
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("registry %s: %w", addr, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("registry %s not ready: %w (last: %v)", addr, ctx.Err(), last)
		case <-time.After(readyPoll):
		}
	}
}
