package metrics

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Speaker holds the speaker's collectors: MetalLB's names for what it
// announces and the layer-2 packets, IronLB's for failover timing.
type Speaker struct {
	node string

	announced  *prometheus.GaugeVec
	requests   *prometheus.CounterVec
	responses  *prometheus.CounterVec
	gratuitous *prometheus.CounterVec

	takeover        *prometheus.HistogramVec
	ownershipChange *prometheus.CounterVec
	membersAlive    prometheus.Gauge
	Client          *Client
}

// takeoverBuckets resolve the range that matters for a LAN failover: tens
// of milliseconds to a few seconds.
var takeoverBuckets = []float64{.005, .01, .025, .05, .1, .15, .2, .25, .3, .4, .5, .75, 1, 2, 5, 10}

// NewSpeaker creates the speaker's collectors for the named node and
// registers them.
func NewSpeaker(reg prometheus.Registerer, node string) (*Speaker, error) {
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
			Help: "Time this node took to take over a Service after a member died, by phase: " +
				"decision (death learned → owners recomputed) and announce (→ the announcer answers and the first announcement is on its way).",
			Buckets: takeoverBuckets,
		}, []string{"phase"}),
		ownershipChange: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: "ownership_changes_total",
			Help: "Times this node started or stopped announcing a Service.",
		}, []string{"service"}),
		membersAlive: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ironlb", Subsystem: "speaker", Name: "members_alive",
			Help: "Speakers this node sees alive, itself included.",
		}),
	}
	for _, c := range []prometheus.Collector{s.announced, s.requests, s.responses, s.gratuitous, s.takeover, s.ownershipChange, s.membersAlive} {
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

// Takeover records the phases of one takeover.
func (s *Speaker) Takeover(detected, decided, announced time.Time) {
	s.takeover.WithLabelValues("decision").Observe(decided.Sub(detected).Seconds())
	s.takeover.WithLabelValues("announce").Observe(announced.Sub(decided).Seconds())
}

// MembersAlive sets how many speakers are alive.
func (s *Speaker) MembersAlive(n int) { s.membersAlive.Set(float64(n)) }
