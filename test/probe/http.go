package probe

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ironlb/ironlb/test/netns"
)

// probeHTTP starts a request every interval, each on a new connection and
// in its own goroutine with HTTPTimeout to finish: a slow answer on a busy
// machine is late, not lost, and a SYN sent to a dead node's MAC does not
// hold up the probes after it. Results are stamped with the request's
// start.
func probeHTTP(ctx context.Context, o Options, t Target, record func(Result)) {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNamespace(o.NetNS, func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.HTTPTimeout}
	url := "http://" + net.JoinHostPort(t.IP.String(), fmt.Sprint(t.Port)) + "/"
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case start := <-tick.C:
			wg.Go(func() {
				answer, err := get(ctx, client, url)
				res := Result{Start: start, Target: t, Kind: HTTP, OK: err == nil, Answer: answer, Latency: time.Since(start)}
				if err != nil {
					res.Err = err.Error()
				}
				if ctx.Err() != nil {
					return // stopped, not failed
				}
				record(res)
			})
		}
	}
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("GET %s: empty page: %w", url, err)
	}
	return strings.TrimSpace(line), nil
}

// inNamespace runs f in the namespace at nsPath, or here when it is empty.
// Sockets f opens stay in that namespace.
func inNamespace(nsPath string, f func() error) error {
	if nsPath == "" {
		return f()
	}
	return netns.DoPath(nsPath, f)
}
