package loop

import (
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// BGP makes this node's BGP sessions and paths match a Desired;
// speaker/bgp implements it. Set changes only what differs, but it still
// walks every path, so the loop calls it only when the Desired changed.
type BGP interface {
	Set(bgpspec.Desired) error
}

// BGPStatusSink learns, after Set succeeded, to which peers this node
// advertises each Service.
type BGPStatusSink interface {
	Advertising(service string, peers []string)
	NotAdvertising(service string)
}

// DefaultBGPRetry is how long after a failed Set the loop tries again
// when nothing else changes meanwhile: the BGP server not running yet at
// start, or a GoBGP call that failed. Short enough that a path is not
// missing for long, long enough not to spin on a failure that persists.
const DefaultBGPRetry = 2 * time.Second

// syncBGP hands the agent's BGP decision to BGP when it changed, then the
// per-Service peers to the status sink. Caller: sync, after the announcer,
// so a layer-2 takeover never waits for it.
func (l *Loop) syncBGP() {
	if l.BGP == nil {
		return
	}
	d := l.Agent.BGP()
	if l.bgpSent != nil && reflect.DeepEqual(*l.bgpSent, d) {
		return
	}
	if err := l.BGP.Set(d); err != nil {
		retry := l.BGPRetry
		if retry == 0 {
			retry = DefaultBGPRetry
		}
		l.Log.Error(err, "setting this node's BGP sessions and paths; retrying", "sessions", len(d.Sessions), "paths", len(d.Paths), "retryIn", retry)
		l.bgpSent = nil
		if l.bgpRetryT == nil {
			l.bgpRetryT = l.Clock.NewTimer(retry)
		}
		return
	}
	l.stopBGPRetry()
	l.bgpSent = &d
	peers := peersByService(d)
	if l.BGPStatus != nil {
		for svc, ps := range peers {
			if prev, had := l.bgpPeers[svc]; !had || !slices.Equal(prev, ps) {
				l.BGPStatus.Advertising(svc, ps)
			}
		}
		for svc := range l.bgpPeers {
			if _, still := peers[svc]; !still {
				l.BGPStatus.NotAdvertising(svc)
			}
		}
	}
	l.bgpPeers = peers
	l.reportBGPAnnounced(d)
}

// reportBGPAnnounced tells the metrics which Services' IPs this node now
// advertises over BGP: the IPs some path of the Service covers.
func (l *Loop) reportBGPAnnounced(d bgpspec.Desired) {
	if l.Metrics == nil {
		return
	}
	ips := map[string][]netip.Addr{}
	for _, p := range d.Paths {
		for _, svc := range p.Services {
			for _, ip := range l.Agent.ServiceIPs(svc) {
				if p.Prefix.Contains(ip) && !slices.Contains(ips[svc], ip) {
					ips[svc] = append(ips[svc], ip)
				}
			}
		}
	}
	for svc, now := range ips {
		slices.SortFunc(now, func(a, b netip.Addr) int { return a.Compare(b) })
		prev := l.bgpIPs[svc]
		var gone []netip.Addr
		for _, ip := range prev {
			if !slices.Contains(now, ip) {
				gone = append(gone, ip)
			}
		}
		l.Metrics.AnnouncedBGP(svc, gone, false)
		l.Metrics.AnnouncedBGP(svc, now, true)
	}
	for svc, prev := range l.bgpIPs {
		if _, still := ips[svc]; !still {
			l.Metrics.AnnouncedBGP(svc, prev, false)
		}
	}
	l.bgpIPs = ips
}

// bgpRetryDue fires when a failed Set is due to be tried again; nil
// (never) when none failed.
func (l *Loop) bgpRetryDue() <-chan time.Time {
	if l.bgpRetryT == nil {
		return nil
	}
	return l.bgpRetryT.C()
}

func (l *Loop) stopBGPRetry() {
	if l.bgpRetryT != nil {
		l.bgpRetryT.Stop()
		l.bgpRetryT = nil
	}
}

// peersByService lists, per Service, the peers some path covering one of
// its IPs is sent to.
func peersByService(d bgpspec.Desired) map[string][]string {
	out := map[string][]string{}
	for _, p := range d.Paths {
		for _, svc := range p.Services {
			out[svc] = append(out[svc], p.Peers...)
		}
	}
	for svc, ps := range out {
		slices.Sort(ps)
		out[svc] = slices.Compact(ps)
	}
	return out
}
