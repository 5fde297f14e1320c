package probe

import (
	"context"
	"net"
	"time"

	"github.com/mdlayher/arp"
)

// probeARP asks who has the VIP once per interval; an answer within the
// interval is the owner's MAC. One client per VIP: a client reads every
// reply on the link, so concurrent probes on one would steal each other's.
func probeARP(ctx context.Context, o Options, t Target, record func(Result)) {
	var c *arp.Client
	err := inNamespace(o.NetNS, func() error {
		ifi, err := net.InterfaceByName(o.Interface)
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		o.Log.Error(err, "opening an ARP socket; no ARP probes for this VIP", "service", t.Service, "ip", t.IP, "interface", o.Interface)
		return
	}
	defer c.Close()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		start := time.Now()
		// Replies still queued from earlier probes (two nodes answer one
		// request during a handoff) would be read as this probe's answer.
		// A deadline already past fails a read without reading: give the
		// drain a moment.
		_ = c.SetReadDeadline(start.Add(200 * time.Microsecond))
		for {
			if _, _, err := c.Read(); err != nil {
				break
			}
		}
		_ = c.SetDeadline(start.Add(o.Interval))
		mac, err := c.Resolve(t.IP)
		res := Result{Start: start, Target: t, Kind: ARP, OK: err == nil, Latency: time.Since(start)}
		if err == nil {
			res.Answer = mac.String()
		}
		record(res)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
