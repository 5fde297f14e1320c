package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// requestTimeout bounds one request; the lab answers in milliseconds.
const requestTimeout = 3 * time.Second

// get fetches http://addr/ from inside the network namespace at nsPath
// (a client's /run/netns/NAME or a pod's /proc/PID/ns/net) and returns the
// body. A new connection each time, so kube-proxy picks a backend anew.
func get(nsPath, addr string) (string, error) {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			err := inNetns(nsPath, func() error {
				var err error
				c, err = (&net.Dialer{Timeout: requestTimeout}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: requestTimeout}).Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET http://%s/: %s\n%s", addr, resp.Status, b)
	}
	return string(b), nil
}

// inNetns runs f on an OS thread switched into the namespace; a socket f
// opens stays in that namespace.
func inNetns(nsPath string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering %s: %w", nsPath, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// A thread left in the wrong namespace must never run Go code again.
			panic(fmt.Sprintf("leaving %s: %v", nsPath, err))
		}
	}()
	return f()
}
