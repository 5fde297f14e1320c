// Package registry runs the lab's image registry: an OCI distribution server
// (go-containerregistry's) that every node's containerd uses in place of
// docker.io, registry.k8s.io, quay.io and ghcr.io, so nothing is pulled from
// outside the machine. Given a directory, blobs and manifests live on disk
// and survive a restart; otherwise everything is in memory.
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
	"sync"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// Config says where blobs go and where request logs go.
type Config struct {
	// Dir holds blobs and manifests (created if missing); a restarted
	// registry serves what it had. Empty keeps everything in memory.
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
	if cfg.Dir == "" {
		return ggcrregistry.New(ggcrregistry.Logger(logger)), nil
	}
	// The disk handler creates the temporary upload files in Dir before it
	// makes any directory, so Dir must exist first.
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("registry directory: %w", err)
	}
	m := &manifests{
		next: ggcrregistry.New(ggcrregistry.Logger(logger),
			ggcrregistry.WithBlobHandler(ggcrregistry.NewDiskBlobHandler(cfg.Dir))),
		dir: cfg.Dir,
		log: logger,
	}
	if err := m.replay(); err != nil {
		return nil, err
	}
	return m, nil
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
	fresh := &freshConns{conns: map[net.Conn]bool{}}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ConnState: fresh.track}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("registry on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- srv.Shutdown(sctx) }()
	fresh.closeAll()
	stopErr := <-shutdownErr
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("registry on %s: %w", ln.Addr(), err)
	}
	if stopErr != nil {
		return fmt.Errorf("registry on %s: stopping: %w", ln.Addr(), stopErr)
	}
	return nil
}

// freshConns tracks connections that have not sent a request yet.
// http.Server.Shutdown waits up to 5 s for such connections, which clients
// open ahead of need (Go's transport does); nothing is lost by closing them.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]bool
	// closing: from now on new connections are closed as they arrive.
	closing bool
}

func (f *freshConns) track(c net.Conn, s http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case s == http.StateNew && f.closing:
		c.Close()
	case s == http.StateNew:
		f.conns[c] = true
	default:
		delete(f.conns, c)
	}
}

func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	for c := range f.conns {
		c.Close()
	}
	f.conns = map[net.Conn]bool{}
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
