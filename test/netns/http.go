package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
