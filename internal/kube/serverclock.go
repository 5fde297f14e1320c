package kube

import (
	"net/http"
	"sync"
	"time"
)

// ServerClock tells the time on the apiserver's clock, read from the Date
// header of its answers. An object's age is its creationTimestamp, which
// the apiserver stamps, against the apiserver's now: a node whose own
// clock is a minute off, or jumps, still tells a pod created two seconds
// ago from one created an hour ago. Between answers it runs on this
// process's monotonic clock, so a step of the node's wall clock does not
// move it.
type ServerClock struct {
	local func() time.Time // carries a monotonic reading, as time.Now's do

	mu       sync.Mutex
	serverAt time.Time // the apiserver's time at the last answer
	localAt  time.Time // this process's clock then
}

// NewServerClock returns a clock that runs on local (time.Now when nil)
// until the apiserver first answers.
func NewServerClock(local func() time.Time) *ServerClock {
	if local == nil {
		local = time.Now
	}
	return &ServerClock{local: local}
}

// Now is the apiserver's time now, as well as an answer's Date (whole
// seconds) tells: within about half a second. Before the first answer it
// is this process's wall clock.
func (c *ServerClock) Now() time.Time {
	now := c.local()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.localAt.IsZero() {
		return now
	}
	return c.serverAt.Add(now.Sub(c.localAt))
}

// Wrap samples every answer; it fits rest.Config.Wrap.
func (c *ServerClock) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		res, err := rt.RoundTrip(req)
		if err == nil {
			c.observe(res.Header.Get("Date"), c.local())
		}
		return res, err
	})
}

// observe takes an answer's Date, received at received. A Go server,
// the apiserver, stamps Date as it writes the answer's headers, at the end
// of whatever the request waited for: it is the apiserver's time as the
// answer came, truncated to the second.
func (c *ServerClock) observe(date string, received time.Time) {
	stamped, err := http.ParseTime(date)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.serverAt, c.localAt = stamped.Add(time.Second/2), received
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
