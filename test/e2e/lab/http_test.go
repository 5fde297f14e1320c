package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ironlb/ironlb/test/netns"
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
			err := netns.DoPath(nsPath, func() error {
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
