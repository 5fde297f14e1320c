package l2lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ironlb/ironlb/test/netns"
)

// NodeServerPort is where ServeNodes listens in every node namespace.
const NodeServerPort = 8080

// ServeNodes stands in for kube-proxy and a backend on every node: TCP to
// any address of vipRange (a prefix) on port 80 is redirected to an HTTP
// server in the node's namespace whose page is the node's MAC and a
// newline. A client that reaches a VIP thus learns which node its kernel
// sent the packets to. The servers stop when the test ends.
func (c *Cluster) ServeNodes(vipRange string) {
	c.t.Helper()
	for _, n := range c.Nodes {
		ns := c.Hosts[n]
		if out, err := c.Lab.Exec(ns, "iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "-d", vipRange, "--dport", "80",
			"-j", "REDIRECT", "--to-ports", fmt.Sprint(NodeServerPort)); err != nil {
			c.t.Fatalf("redirecting VIP traffic on %s: %v: %s", n, err, out)
		}
		var ln net.Listener
		if err := netns.Do(ns, func() error {
			var err error
			ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", NodeServerPort))
			return err
		}); err != nil {
			c.t.Fatalf("listening on %s: %v", n, err)
		}
		page := []byte(c.Lab.MAC(ns).String() + "\n")
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Connection", "close")
				_, _ = w.Write(page)
			}),
			ReadHeaderTimeout: 5 * time.Second,
		}
		go func() { _ = srv.Serve(ln) }()
		c.t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
}
