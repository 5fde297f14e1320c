// Package ifwatch tells the speaker when the node's interfaces or their
// addresses change, so that a NIC, a VLAN or an address that appears after
// start is announced at once rather than on the next unrelated change.
// The kernel reports changes on a netlink socket subscribed to link and
// address events; where that socket cannot be opened, the interfaces are
// polled instead.
package ifwatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// DefaultPollInterval is how often the fallback compares the interface
// list: a change then takes this long to be announced.
const DefaultPollInterval = 5 * time.Second

// Watcher reports changes on Changed (a buffer of one: changes that arrive
// while one is pending merge into it; the reader lists the interfaces
// anew anyway).
type Watcher struct {
	// List is what the poll fallback compares (layer2.UsableInterfaces).
	List func() []string
	// PollInterval of the fallback; DefaultPollInterval when zero.
	PollInterval time.Duration
	Log          logr.Logger

	changed chan struct{}
	// listening is closed once changes are being followed (tests wait
	// for it before changing interfaces).
	listening chan struct{}
}

// New returns a Watcher that polls list when netlink is unavailable.
func New(list func() []string, log logr.Logger) *Watcher {
	return &Watcher{List: list, Log: log, changed: make(chan struct{}, 1), listening: make(chan struct{})}
}

// Changed receives once per batch of changes.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

func (w *Watcher) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Run reports changes until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	sock, err := subscribe()
	if err != nil {
		w.Log.Info("cannot follow interface changes over netlink; polling them", "interval", w.pollInterval(), "reason", err.Error())
		return w.poll(ctx)
	}
	close(w.listening)
	// The socket is closed when ctx ends (which ends the Read below) or
	// when Run returns on its own, so the closer never outlives Run.
	returned, closed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(closed)
		select {
		case <-ctx.Done():
		case <-returned:
		}
		sock.Close()
	}()
	defer func() { close(returned); <-closed }()
	buf := make([]byte, 1<<16)
	for {
		n, err := sock.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				// The kernel dropped events for a slow reader: what
				// changed is unknown, so say something did.
				w.notify()
				continue
			}
			return fmt.Errorf("reading interface changes from netlink: %w", err)
		}
		if n > 0 {
			w.notify()
		}
	}
}

// subscribe opens a netlink route socket in the caller's network namespace
// that receives link and address changes (no privilege needed).
func subscribe() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	// Non-blocking and wrapped in an os.File, the socket is read through
	// Go's poller, so closing it ends a pending Read.
	return os.NewFile(uintptr(fd), "netlink-route"), nil
}

func (w *Watcher) pollInterval() time.Duration {
	if w.PollInterval > 0 {
		return w.PollInterval
	}
	return DefaultPollInterval
}

func (w *Watcher) poll(ctx context.Context) error {
	t := time.NewTicker(w.pollInterval())
	defer t.Stop()
	last := w.List()
	close(w.listening)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if now := w.List(); !slices.Equal(now, last) {
				last = now
				w.notify()
			}
		}
	}
}
