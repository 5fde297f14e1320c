// Package bgpapply connects the speaker's loop to its BGP speaker: it applies
// the loop's BGP decision, turns each peer's problem (a session refused, BFD
// not supported) into a log line and a Warning Event on the BGPPeer, once
// per new problem, and reads the node's own addresses for router IDs and
// next hops.
package bgpapply

import (
	"context"
	"errors"
	"net/netip"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/speaker/bgp"
	"github.com/ironlb/ironlb/speaker/bgpspec"
)

// Setter is the loop's BGP: the speaker's Set, whose per-peer problems
// become a log line and a Warning Event on the BGPPeer, once per new
// problem, and are not returned: the loop retries only what retrying can
// fix.
type Setter struct {
	Speaker   *bgp.Speaker
	Client    client.Reader
	Namespace string // where the BGPPeers are
	Recorder  events.EventRecorder
	Log       logr.Logger

	reported map[string]string // peer → problem last reported
}

// Set applies d; see Setter.
func (b *Setter) Set(d bgpspec.Desired) error {
	select {
	case <-b.Speaker.Ready():
	default:
		return bgp.ErrNotRunning
	}
	err := b.Speaker.Set(d)
	now := map[string]string{}
	for _, pe := range bgp.PeerErrors(err) {
		msg := pe.Error()
		now[pe.Peer] = msg
		if b.reported[pe.Peer] == msg {
			continue
		}
		b.Log.Info("BGP peer not fully configured", "peer", pe.Peer, "refused", pe.Refused, "reason", pe.Err.Error())
		var obj v1beta2.BGPPeer
		if gerr := b.Client.Get(context.Background(), types.NamespacedName{Namespace: b.Namespace, Name: pe.Peer}, &obj); gerr == nil {
			reason := compat.ReasonBGPPeerNotFullyConfigured
			if pe.Refused {
				reason = compat.ReasonBGPPeerRefused
			}
			b.Recorder.Eventf(&obj, nil, corev1.EventTypeWarning, reason, "Configure", "%s", msg)
		}
	}
	b.reported = now
	return withoutPeerErrors(err)
}

// BFDChanged records that BFD took the peer's BGP session down or let it
// up as an Event on the BGPPeer (bgp.Options.OnBFDChange). It reads the
// BGPPeer from the cache and queues the Event: it does not block.
func (b *Setter) BFDChanged(peer string, up bool, diagnostic string) {
	var obj v1beta2.BGPPeer
	if err := b.Client.Get(context.Background(), types.NamespacedName{Namespace: b.Namespace, Name: peer}, &obj); err != nil {
		b.Log.Info("no Event for a BFD change: cannot read the BGPPeer", "peer", peer, "reason", err.Error())
		return
	}
	if up {
		b.Recorder.Eventf(&obj, nil, corev1.EventTypeNormal, compat.ReasonBFDSessionUp, "BFD",
			"BFD session Up: the BGP session is enabled")
		return
	}
	b.Recorder.Eventf(&obj, nil, corev1.EventTypeWarning, compat.ReasonBFDSessionDown, "BFD",
		"BFD session down (%s): the BGP session was reset and is held down until BFD is Up again (at most %s)", diagnostic, bgp.DefaultBFDHoldLimit)
}

// withoutPeerErrors drops the *bgp.PeerErrors from an error Set returned.
func withoutPeerErrors(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*bgp.PeerError); ok {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var rest []error
	for _, e := range j.Unwrap() {
		if r := withoutPeerErrors(e); r != nil {
			rest = append(rest, r)
		}
	}
	return errors.Join(rest...)
}

// NodeAddresses are the node's own addresses for the BGP speaker's router
// ID and cross-family next hops: --host first, then the Node's
// InternalIPs and ExternalIPs, then --ml-bindaddr (status.podIP: speakers
// run on the host network), so a pod spec without METALLB_HOST still
// gets a router ID. They are read once, at start.
func NodeAddresses(ctx context.Context, c client.Reader, node, host, bindAddr string, log logr.Logger) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			for _, have := range out {
				if have == a {
					return
				}
			}
			out = append(out, a)
		}
	}
	add(host)
	var n corev1.Node
	if err := c.Get(ctx, types.NamespacedName{Name: node}, &n); err != nil {
		log.Info("cannot read this node's addresses; BGP uses --host and --ml-bindaddr only", "node", node, "reason", err.Error())
	}
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == t {
				add(a.Address)
			}
		}
	}
	add(bindAddr)
	log.Info("node addresses for BGP (router ID: the first IPv4 one unless a BGPPeer sets routerID)", "node", node, "addresses", out)
	return out
}
