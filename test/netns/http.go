package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Get fetches http://addr/ from inside the network namespace at nsPath, on
// a new connection each time (so kube-proxy picks a backend anew), within
// timeout, and returns the body; a status other than 200 is an error.
func Get(ctx context.Context, nsPath, addr string, timeout time.Duration) (string, error) {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			err := DoPath(nsPath, func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
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

// Ticker starts f every interval, each call in its own goroutine, so a
// slow or lost request never delays the next: a client probing a VIP.
type Ticker struct {
	stop chan struct{}
	done chan struct{}
}

// Tick starts calling f with the tick's time.
func Tick(interval time.Duration, f func(at time.Time)) *Ticker {
	t := &Ticker{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case at := <-tick.C:
				wg.Add(1)
				go func() { defer wg.Done(); f(at) }()
			}
		}
	}()
	return t
}

// Stop starts no more calls and waits for those under way.
func (t *Ticker) Stop() {
	close(t.stop)
	<-t.done
}
