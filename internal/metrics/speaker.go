package metrics

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Speaker holds the speaker's collectors: MetalLB's names for what it
// announces, the layer-2 packets and BGP sessions (registered ahead of the
// BGP speaker, so dashboards and alerts may name them; no series until a
// session exists), IronLB's for failover timing.
type Speaker struct {
	node string

	announced  *prometheus.GaugeVec
	requests   *prometheus.CounterVec
	responses  *prometheus.CounterVec
	gratuitous *prometheus.CounterVec

	takeover        *prometheus.HistogramVec
	failover        prometheus.Histogram
	lastFailover    *prometheus.GaugeVec
	ownershipChange *prometheus.CounterVec
	membersAlive    prometheus.Gauge

	// MetalLB's BGP metrics, labelled peer ("address:port") and vrf as
	// FRR mode labels them; the message counters past updates_total are
	// FRR mode's families, counters without _total as MetalLB names them.
	bgpSessionUp *prometheus.GaugeVec
	bgpPrefixes  *prometheus.GaugeVec
	bgpPending   *prometheus.GaugeVec
	bgpWithdraw  *prometheus.HistogramVec
	bgpSent      bgpMessageCounters
	bgpReceived  bgpMessageCounters

	// MetalLB's FRR-mode BFD metrics, labelled peer (its address) and
	// vrf; counters without _total, as MetalLB names them.
	bfdSessionUp  *prometheus.GaugeVec
	bfdControlIn  *prometheus.CounterVec
	bfdControlOut *prometheus.CounterVec
	bfdEchoIn     *prometheus.CounterVec
	bfdEchoOut    *prometheus.CounterVec
	bfdUpEvents   *prometheus.CounterVec
	bfdDownEvents *prometheus.CounterVec

	Client *Client
}

// defaultVRF is the vrf label of every BGP and BFD series, as FRR mode
// names the default VRF: IronLB runs its sessions there only.
const defaultVRF = "default"

// BGPMessages counts one session's BGP messages by type.
type BGPMessages struct {
	Open, Update, Notification, Keepalive, RouteRefresh, Total uint64
}

// bgpMessageCounters are one direction's message counters; nil where FRR
// mode has no family (updates sent are updates_total, notifications and
// route refreshes are counted sent only).
type bgpMessageCounters struct {
	open, update, notification, keepalive, routeRefresh, total *prometheus.CounterVec
}

func (c bgpMessageCounters) all() []*prometheus.CounterVec {
	var out []*prometheus.CounterVec
	for _, v := range []*prometheus.CounterVec{c.open, c.update, c.notification, c.keepalive, c.routeRefresh, c.total} {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func (c bgpMessageCounters) add(peer string, m BGPMessages) {
	for _, x := range []struct {
		v *prometheus.CounterVec
		n uint64
	}{{c.open, m.Open}, {c.update, m.Update}, {c.notification, m.Notification}, {c.keepalive, m.Keepalive}, {c.routeRefresh, m.RouteRefresh}, {c.total, m.Total}} {
		if x.v != nil && x.n > 0 {
			x.v.WithLabelValues(peer, defaultVRF).Add(float64(x.n))
		}
	}
}

// takeoverBuckets resolve the range that matters for a LAN failover: tens
// of milliseconds to a few seconds.
var takeoverBuckets = []float64{.005, .01, .025, .05, .1, .15, .2, .25, .3, .4, .5, .75, 1, 2, 5, 10}

// withdrawBuckets span a withdrawal written at once (sub-millisecond, on
// GoBGP's queue) to one stuck behind a full TCP window until the stop
// timeout (seconds).
var withdrawBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// takeoverPhases are the values of ironlb_layer2_takeover_seconds' phase
// label, in order.
var takeoverPhases = [...]string{"detection", "decision", "announce"}

// NewSpeaker creates the speaker's collectors for the named node and
// registers them.
func NewSpeaker(reg prometheus.Registerer, node string) (*Speaker, error) {
	peerVRF := []string{"peer", "vrf"}
	s := &Speaker{
		node: node,
		announced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "speaker", Name: "announced",
			Help: "Services being announced from this node; 1 per service, IP and protocol.",
		}, []string{"ip", "node", "protocol", "service"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "metallb", Subsystem: "layer2", Name: "requests_received",
			Help: "ARP requests and neighbour solicitations received for announced IPs.",
		}, []string{"ip"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "metallb", Subsystem: "layer2", Name: "responses_sent",
			Help: "ARP replies and neighbour advertisements sent for announced IPs.",
		}, []string{"ip"}),
		gratuitous: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "metallb", Subsystem: "layer2", Name: "gratuitous_sent",
			Help: "Gratuitous ARP requests and unsolicited neighbour advertisements sent.",
		}, []string{"ip"}),
		takeover: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: "takeover_seconds",
			Help: "Time this node took to take over Services after a member died, by phase: " +
				"detection (the last packet this node heard from the member → its death learned; observed when it heard one since the member joined), " +
				"decision (→ owners recomputed) and announce (→ the announcer answers and the first announcement is on its way).",
			Buckets: takeoverBuckets,
		}, []string{"phase"}),
		failover: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: "failover_seconds",
			Help: "Time from a member's failure to this node announcing the Services it took over: " +
				"from the last packet this node heard from the member, or from its death being learned when it heard none.",
			Buckets: takeoverBuckets,
		}),
		lastFailover: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: "last_failover_timestamp_seconds",
			Help: "Unix time at which this node announced a Service it took over from a member that died; " +
				"kept when the Service moves on (the time since its last failover stays visible), removed with the Service.",
		}, []string{"service"}),
		ownershipChange: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: "ownership_changes_total",
			Help: "Times this node started or stopped announcing a Service.",
		}, []string{"service"}),
		membersAlive: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ironlb", Subsystem: "speaker", Name: "members_alive",
			Help: "Speakers this node sees alive, itself included.",
		}),
		bgpSessionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "bgp", Name: "session_up",
			Help: "1 while the BGP session with the peer is established.",
		}, peerVRF),
		bgpPrefixes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "bgp", Name: "announced_prefixes_total",
			Help: "Prefixes currently advertised to the peer.",
		}, peerVRF),
		bgpPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "bgp", Name: "pending_prefixes_total",
			Help: "Prefixes the peer should have but has not been sent: all of them while the session is down.",
		}, peerVRF),
		bgpWithdraw: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ironlb", Subsystem: "bgp", Name: "withdraw_seconds",
			Help: "Time from the speaker deciding to withdraw paths from an established peer " +
				"(a Service or node change, or the speaker stopping) to the UPDATEs carrying the withdrawals being written to the session.",
			Buckets: withdrawBuckets,
		}, peerVRF),
	}
	bgpCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "metallb", Subsystem: "bgp", Name: name, Help: help}, peerVRF)
	}
	s.bgpSent = bgpMessageCounters{
		open:         bgpCounter("opens_sent", "Number of BGP OPEN messages sent."),
		update:       bgpCounter("updates_total", "BGP UPDATE messages sent to the peer."),
		notification: bgpCounter("notifications_sent", "Number of BGP NOTIFICATION messages sent."),
		keepalive:    bgpCounter("keepalives_sent", "Number of BGP KEEPALIVE messages sent."),
		routeRefresh: bgpCounter("route_refresh_sent", "Number of BGP ROUTE-REFRESH messages sent."),
		total:        bgpCounter("total_sent", "Number of BGP messages sent."),
	}
	s.bgpReceived = bgpMessageCounters{
		open:      bgpCounter("opens_received", "Number of BGP OPEN messages received."),
		update:    bgpCounter("updates_total_received", "Number of BGP UPDATE messages received."),
		keepalive: bgpCounter("keepalives_received", "Number of BGP KEEPALIVE messages received."),
		total:     bgpCounter("total_received", "Number of BGP messages received."),
	}
	bfdCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "metallb", Subsystem: "bfd", Name: name, Help: help}, peerVRF)
	}
	s.bfdSessionUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "metallb", Subsystem: "bfd", Name: "session_up",
		Help: "BFD session state (1 is up, 0 is down).",
	}, peerVRF)
	s.bfdControlIn = bfdCounter("control_packet_input", "Number of received BFD control packets.")
	s.bfdControlOut = bfdCounter("control_packet_output", "Number of sent BFD control packets.")
	s.bfdEchoIn = bfdCounter("echo_packet_input", "Number of received BFD echo packets (IronLB runs no echo function: always 0).")
	s.bfdEchoOut = bfdCounter("echo_packet_output", "Number of sent BFD echo packets (IronLB runs no echo function: always 0).")
	s.bfdUpEvents = bfdCounter("session_up_events", "Number of BFD session up events.")
	s.bfdDownEvents = bfdCounter("session_down_events", "Number of BFD session down events.")
	// Every phase's series exists from the start: a series born with
	// the first takeover would hide that takeover from rate() and
	// increase(), and the phase panel would show nothing.
	for _, phase := range takeoverPhases {
		s.takeover.WithLabelValues(phase)
	}
	collectors := []prometheus.Collector{s.announced, s.requests, s.responses, s.gratuitous,
		s.takeover, s.failover, s.lastFailover, s.ownershipChange, s.membersAlive,
		s.bgpSessionUp, s.bgpPrefixes, s.bgpPending, s.bgpWithdraw,
		s.bfdSessionUp, s.bfdControlIn, s.bfdControlOut, s.bfdEchoIn, s.bfdEchoOut, s.bfdUpEvents, s.bfdDownEvents}
	for _, c := range s.bgpCounters() {
		collectors = append(collectors, c)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	client, err := NewClient(reg)
	if err != nil {
		return nil, err
	}
	s.Client = client
	return s, nil
}

// RequestReceived counts a request for an announced IP.
func (s *Speaker) RequestReceived(ip netip.Addr) { s.requests.WithLabelValues(ip.String()).Inc() }

// ResponseSent counts an answer.
func (s *Speaker) ResponseSent(ip netip.Addr) { s.responses.WithLabelValues(ip.String()).Inc() }

// GratuitousSent counts an unsolicited announcement.
func (s *Speaker) GratuitousSent(ip netip.Addr) { s.gratuitous.WithLabelValues(ip.String()).Inc() }

// Announced records that this node starts (on) or stops announcing the
// Service's IPs in layer 2.
func (s *Speaker) Announced(service string, ips []netip.Addr, on bool) {
	for _, ip := range ips {
		if on {
			s.announced.WithLabelValues(ip.String(), s.node, "layer2", service).Set(1)
		} else {
			s.announced.DeleteLabelValues(ip.String(), s.node, "layer2", service)
		}
	}
	s.ownershipChange.WithLabelValues(service).Inc()
}

// AnnouncedBGP records that this node starts (on) or stops advertising
// the Service's IPs over BGP: metallb_speaker_announced with protocol
// "bgp", as MetalLB's speakers report it.
func (s *Speaker) AnnouncedBGP(service string, ips []netip.Addr, on bool) {
	for _, ip := range ips {
		if on {
			s.announced.WithLabelValues(ip.String(), s.node, "bgp", service).Set(1)
		} else {
			s.announced.DeleteLabelValues(ip.String(), s.node, "bgp", service)
		}
	}
}

// ServiceSeen creates the Service's ownership-change series at 0: a
// series born with the first change would hide that change from
// increase(). One series per Service on every node, as MetalLB's per-IP
// layer-2 counters are per node.
func (s *Speaker) ServiceSeen(service string) { s.ownershipChange.WithLabelValues(service) }

// ServiceGone drops the Service's series: it was deleted or lost its IPs.
func (s *Speaker) ServiceGone(service string) {
	s.ownershipChange.DeleteLabelValues(service)
	s.lastFailover.DeleteLabelValues(service)
}

// Takeover records one takeover of services from a member that died: the
// last packet this node heard from the member (zero when none), its death learned,
// owners recomputed, the announcer set.
func (s *Speaker) Takeover(services []string, lastContact, detected, decided, announced time.Time) {
	start := detected
	if !lastContact.IsZero() && lastContact.Before(detected) {
		start = lastContact
		s.takeover.WithLabelValues("detection").Observe(detected.Sub(lastContact).Seconds())
	}
	s.takeover.WithLabelValues("decision").Observe(decided.Sub(detected).Seconds())
	s.takeover.WithLabelValues("announce").Observe(announced.Sub(decided).Seconds())
	s.failover.Observe(announced.Sub(start).Seconds())
	at := float64(announced.UnixNano()) / 1e9
	for _, svc := range services {
		s.lastFailover.WithLabelValues(svc).Set(at)
	}
}

// MembersAlive sets how many speakers are alive.
func (s *Speaker) MembersAlive(n int) { s.membersAlive.Set(float64(n)) }

// BGPSession records whether the session with peer is established.
func (s *Speaker) BGPSession(peer string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	s.bgpSessionUp.WithLabelValues(peer, defaultVRF).Set(v)
	// The peer's counters exist from its first session state on: born
	// with their first message or withdrawal, rate() and increase()
	// would never see that one.
	for _, c := range s.bgpCounters() {
		c.WithLabelValues(peer, defaultVRF)
	}
	s.bgpWithdraw.WithLabelValues(peer, defaultVRF)
}

func (s *Speaker) bgpCounters() []*prometheus.CounterVec {
	return append(s.bgpSent.all(), s.bgpReceived.all()...)
}

// BGPMessages adds messages sent to and received from peer.
func (s *Speaker) BGPMessages(peer string, sent, received BGPMessages) {
	s.bgpSent.add(peer, sent)
	s.bgpReceived.add(peer, received)
}

// BGPAnnouncedPrefixes sets how many prefixes peer is sent.
func (s *Speaker) BGPAnnouncedPrefixes(peer string, n int) {
	s.bgpPrefixes.WithLabelValues(peer, defaultVRF).Set(float64(n))
}

// BGPPendingPrefixes sets how many prefixes peer has not been sent.
func (s *Speaker) BGPPendingPrefixes(peer string, n int) {
	s.bgpPending.WithLabelValues(peer, defaultVRF).Set(float64(n))
}

// BGPWithdrawn records how long withdrawals to peer took to be sent.
func (s *Speaker) BGPWithdrawn(peer string, d time.Duration) {
	s.bgpWithdraw.WithLabelValues(peer, defaultVRF).Observe(d.Seconds())
}

// BGPPeerRemoved drops the series of a peer that is no longer configured.
func (s *Speaker) BGPPeerRemoved(peer string) {
	s.bgpSessionUp.DeleteLabelValues(peer, defaultVRF)
	s.bgpPrefixes.DeleteLabelValues(peer, defaultVRF)
	s.bgpPending.DeleteLabelValues(peer, defaultVRF)
	s.bgpWithdraw.DeleteLabelValues(peer, defaultVRF)
	for _, c := range s.bgpCounters() {
		c.DeleteLabelValues(peer, defaultVRF)
	}
}

// BFDSession records a BFD session's state; changed counts an up or down
// event. Every series of the peer exists from its first state on.
func (s *Speaker) BFDSession(peer string, up, changed bool) {
	v := 0.0
	if up {
		v = 1
	}
	s.bfdSessionUp.WithLabelValues(peer, defaultVRF).Set(v)
	for _, c := range []*prometheus.CounterVec{s.bfdControlIn, s.bfdControlOut, s.bfdEchoIn, s.bfdEchoOut, s.bfdUpEvents, s.bfdDownEvents} {
		c.WithLabelValues(peer, defaultVRF)
	}
	switch {
	case changed && up:
		s.bfdUpEvents.WithLabelValues(peer, defaultVRF).Inc()
	case changed:
		s.bfdDownEvents.WithLabelValues(peer, defaultVRF).Inc()
	}
}

// BFDControlPacket counts a control packet received from or sent to peer.
func (s *Speaker) BFDControlPacket(peer string, sent bool) {
	if sent {
		s.bfdControlOut.WithLabelValues(peer, defaultVRF).Inc()
		return
	}
	s.bfdControlIn.WithLabelValues(peer, defaultVRF).Inc()
}

// BFDPeerRemoved drops the series of a BFD session that was removed.
func (s *Speaker) BFDPeerRemoved(peer string) {
	for _, v := range []interface{ DeleteLabelValues(...string) bool }{s.bfdSessionUp, s.bfdControlIn, s.bfdControlOut, s.bfdEchoIn, s.bfdEchoOut, s.bfdUpEvents, s.bfdDownEvents} {
		v.DeleteLabelValues(peer, defaultVRF)
	}
}
