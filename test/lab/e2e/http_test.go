//go:build e2e

package lab

import (
	"context"
	"time"

	"github.com/ironlb/ironlb/test/netns"
)

// requestTimeout bounds one request; the lab answers in milliseconds.
const requestTimeout = 3 * time.Second

// get fetches http://addr/ from inside the network namespace at nsPath
// (a client's /run/netns/NAME or a pod's /proc/PID/ns/net).
func get(nsPath, addr string) (string, error) {
	return netns.Get(context.Background(), nsPath, addr, requestTimeout)
}
