package metrics

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newSpeaker(t *testing.T) (*Speaker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	s, err := NewSpeaker(reg, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func TestTakeoverPhasesAndLastFailover(t *testing.T) {
	s, reg := newSpeaker(t)
	t0 := time.Unix(1_800_000_000, 0)
	svcs := []string{"default/svc1", "default/svc2"}
	for _, svc := range svcs {
		s.Announced(svc, []netip.Addr{netip.MustParseAddr("192.0.2.1")}, true)
	}
	s.Takeover(svcs, t0, t0.Add(300*time.Millisecond), t0.Add(301*time.Millisecond), t0.Add(303*time.Millisecond))

	want := `
# HELP ironlb_layer2_last_failover_timestamp_seconds Unix time at which this node announced a Service it took over from a member that died; kept when the Service moves on (the time since its last failover stays visible), removed with the Service.
# TYPE ironlb_layer2_last_failover_timestamp_seconds gauge
ironlb_layer2_last_failover_timestamp_seconds{service="default/svc1"} 1.800000000303e+09
ironlb_layer2_last_failover_timestamp_seconds{service="default/svc2"} 1.800000000303e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ironlb_layer2_last_failover_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	for phase, sum := range map[string]float64{"detection": .3, "decision": .001, "announce": .002} {
		h := s.takeover.WithLabelValues(phase).(prometheus.Histogram)
		if n := testutil.CollectAndCount(h); n != 1 {
			t.Fatalf("phase %s: %d series", phase, n)
		}
		if got := histogramSum(t, h); !near(got, sum) {
			t.Errorf("phase %s: sum %v, want %v", phase, got, sum)
		}
	}
	if got := histogramSum(t, s.failover); !near(got, .303) {
		t.Errorf("failover: sum %v, want 0.303 (last contact → announced)", got)
	}

	// Without a last contact, no detection phase; the failover is measured
	// from the death being learned.
	s.Takeover([]string{"default/svc1"}, time.Time{}, t0.Add(time.Second), t0.Add(time.Second+time.Millisecond), t0.Add(time.Second+2*time.Millisecond))
	if got := histogramCount(t, s.takeover.WithLabelValues("detection").(prometheus.Histogram)); got != 1 {
		t.Errorf("detection observed %d times, want 1", got)
	}
	if got := histogramSum(t, s.failover); !near(got, .305) {
		t.Errorf("failover: sum %v, want 0.305", got)
	}

	// Stopping to announce counts an ownership change and keeps the time
	// of the last failover; the Service going drops both.
	s.Announced("default/svc1", []netip.Addr{netip.MustParseAddr("192.0.2.1")}, false)
	if got := testutil.CollectAndCount(s.lastFailover); got != 2 {
		t.Errorf("%d last-failover series, want 2 (svc1 handed on, svc2)", got)
	}
	if got := testutil.ToFloat64(s.ownershipChange.WithLabelValues("default/svc1")); got != 2 {
		t.Errorf("ownership changes of svc1 = %v, want 2", got)
	}
	s.ServiceGone("default/svc1")
	if got := testutil.CollectAndCount(s.lastFailover); got != 1 {
		t.Errorf("%d last-failover series after svc1 went, want 1 (svc2)", got)
	}
	if got := testutil.CollectAndCount(s.ownershipChange); got != 1 {
		t.Errorf("%d ownership-change series after svc1 went, want 1 (svc2)", got)
	}
}

// TestOwnershipChangesStartAtZero: a Service's series exists before its
// first change, so increase() counts that change.
func TestOwnershipChangesStartAtZero(t *testing.T) {
	s, reg := newSpeaker(t)
	s.ServiceSeen("default/svc1")
	want := `
# HELP ironlb_layer2_ownership_changes_total Times this node started or stopped announcing a Service.
# TYPE ironlb_layer2_ownership_changes_total counter
ironlb_layer2_ownership_changes_total{service="default/svc1"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ironlb_layer2_ownership_changes_total"); err != nil {
		t.Error(err)
	}
}

func TestAnnouncedMetalLBNames(t *testing.T) {
	s, reg := newSpeaker(t)
	ip := netip.MustParseAddr("2001:db8::1")
	s.Announced("ns/web", []netip.Addr{ip}, true)
	s.RequestReceived(ip)
	s.ResponseSent(ip)
	s.GratuitousSent(ip)
	s.MembersAlive(3)
	want := `
# HELP metallb_speaker_announced Services being announced from this node; 1 per service, IP and protocol.
# TYPE metallb_speaker_announced gauge
metallb_speaker_announced{ip="2001:db8::1",node="node-a",protocol="layer2",service="ns/web"} 1
# HELP ironlb_speaker_members_alive Speakers this node sees alive, itself included.
# TYPE ironlb_speaker_members_alive gauge
ironlb_speaker_members_alive 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "metallb_speaker_announced", "ironlb_speaker_members_alive"); err != nil {
		t.Error(err)
	}
	for _, c := range []*prometheus.CounterVec{s.requests, s.responses, s.gratuitous} {
		if got := testutil.ToFloat64(c.WithLabelValues("2001:db8::1")); got != 1 {
			t.Errorf("counter = %v, want 1", got)
		}
	}
	s.Announced("ns/web", []netip.Addr{ip}, false)
	if got := testutil.CollectAndCount(s.announced); got != 0 {
		t.Errorf("%d announced series after stopping, want 0", got)
	}
}

func TestBGPSeries(t *testing.T) {
	s, reg := newSpeaker(t)
	if n, err := testutil.GatherAndCount(reg, "metallb_bgp_session_up"); err != nil || n != 0 {
		t.Fatalf("BGP series before any session: %d, %v", n, err)
	}
	const peer = "192.0.2.9:179"
	s.BGPSession(peer, true)
	s.BGPMessages(peer, BGPMessages{Open: 1, Update: 2, Keepalive: 3, Notification: 1, RouteRefresh: 1, Total: 8}, BGPMessages{Open: 1, Update: 5, Keepalive: 4, Total: 10})
	s.BGPMessages(peer, BGPMessages{Update: 1, Total: 1}, BGPMessages{})
	s.BGPAnnouncedPrefixes(peer, 4)
	s.BGPPendingPrefixes(peer, 0)
	// FRR mode's names and labels: peer and vrf, the default VRF named
	// "default"; updates sent are updates_total.
	want := `
# HELP metallb_bgp_session_up 1 while the BGP session with the peer is established.
# TYPE metallb_bgp_session_up gauge
metallb_bgp_session_up{peer="192.0.2.9:179",vrf="default"} 1
# HELP metallb_bgp_announced_prefixes_total Prefixes currently advertised to the peer.
# TYPE metallb_bgp_announced_prefixes_total gauge
metallb_bgp_announced_prefixes_total{peer="192.0.2.9:179",vrf="default"} 4
# HELP metallb_bgp_pending_prefixes_total Prefixes the peer should have but has not been sent: all of them while the session is down.
# TYPE metallb_bgp_pending_prefixes_total gauge
metallb_bgp_pending_prefixes_total{peer="192.0.2.9:179",vrf="default"} 0
# HELP metallb_bgp_updates_total BGP UPDATE messages sent to the peer.
# TYPE metallb_bgp_updates_total counter
metallb_bgp_updates_total{peer="192.0.2.9:179",vrf="default"} 3
# HELP metallb_bgp_opens_sent Number of BGP OPEN messages sent.
# TYPE metallb_bgp_opens_sent counter
metallb_bgp_opens_sent{peer="192.0.2.9:179",vrf="default"} 1
# HELP metallb_bgp_opens_received Number of BGP OPEN messages received.
# TYPE metallb_bgp_opens_received counter
metallb_bgp_opens_received{peer="192.0.2.9:179",vrf="default"} 1
# HELP metallb_bgp_notifications_sent Number of BGP NOTIFICATION messages sent.
# TYPE metallb_bgp_notifications_sent counter
metallb_bgp_notifications_sent{peer="192.0.2.9:179",vrf="default"} 1
# HELP metallb_bgp_updates_total_received Number of BGP UPDATE messages received.
# TYPE metallb_bgp_updates_total_received counter
metallb_bgp_updates_total_received{peer="192.0.2.9:179",vrf="default"} 5
# HELP metallb_bgp_keepalives_sent Number of BGP KEEPALIVE messages sent.
# TYPE metallb_bgp_keepalives_sent counter
metallb_bgp_keepalives_sent{peer="192.0.2.9:179",vrf="default"} 3
# HELP metallb_bgp_keepalives_received Number of BGP KEEPALIVE messages received.
# TYPE metallb_bgp_keepalives_received counter
metallb_bgp_keepalives_received{peer="192.0.2.9:179",vrf="default"} 4
# HELP metallb_bgp_route_refresh_sent Number of BGP ROUTE-REFRESH messages sent.
# TYPE metallb_bgp_route_refresh_sent counter
metallb_bgp_route_refresh_sent{peer="192.0.2.9:179",vrf="default"} 1
# HELP metallb_bgp_total_sent Number of BGP messages sent.
# TYPE metallb_bgp_total_sent counter
metallb_bgp_total_sent{peer="192.0.2.9:179",vrf="default"} 9
# HELP metallb_bgp_total_received Number of BGP messages received.
# TYPE metallb_bgp_total_received counter
metallb_bgp_total_received{peer="192.0.2.9:179",vrf="default"} 10
`
	names := []string{"metallb_bgp_session_up", "metallb_bgp_announced_prefixes_total", "metallb_bgp_pending_prefixes_total", "metallb_bgp_updates_total",
		"metallb_bgp_opens_sent", "metallb_bgp_opens_received", "metallb_bgp_notifications_sent", "metallb_bgp_updates_total_received",
		"metallb_bgp_keepalives_sent", "metallb_bgp_keepalives_received", "metallb_bgp_route_refresh_sent", "metallb_bgp_total_sent", "metallb_bgp_total_received"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	s.BGPPeerRemoved(peer)
	if n, err := testutil.GatherAndCount(reg, append(names, "ironlb_bgp_withdraw_seconds")...); err != nil || n != 0 {
		t.Errorf("BGP series after the peer is removed: %d, %v", n, err)
	}
}

func TestBGPWithdrawLatencyIsObservedPerPeerAndDroppedWithIt(t *testing.T) {
	s, reg := newSpeaker(t)
	s.BGPWithdrawn("peer-a", 3*time.Millisecond)
	s.BGPWithdrawn("peer-a", 2*time.Second)
	s.BGPWithdrawn("peer-b", time.Millisecond)
	h := s.bgpWithdraw.WithLabelValues("peer-a", defaultVRF).(prometheus.Histogram)
	got := collectHistogram(t, h)
	if got.GetSampleCount() != 2 || !near(got.GetSampleSum(), 2.003) {
		t.Errorf("peer-a: %d samples summing to %v, want 2 summing to 2.003", got.GetSampleCount(), got.GetSampleSum())
	}
	s.BGPPeerRemoved("peer-a")
	if n, err := testutil.GatherAndCount(reg, "ironlb_bgp_withdraw_seconds"); err != nil || n != 1 {
		t.Errorf("withdraw series after peer-a is removed: %d, %v; want peer-b's only", n, err)
	}
}

func TestControllerAndClientNames(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c, err := NewController(reg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetPool("pool-a", Pool{Services: 2, IPv4InUse: 3, IPv4Total: 51, IPv6InUse: 1, IPv6Total: 1 << 62})
	c.SetPool("huge", Pool{IPv6Total: 1<<63 - 1, IPv4Total: 2})
	c.Client.Updates.Add(2)
	c.Client.UpdateErrors.Inc()
	c.Client.ConfigLoaded.Set(1)
	c.Client.ConfigStale.Set(1)
	for name, want := range map[string]int{
		"metallb_allocator_addresses_in_use_total": 2, "metallb_allocator_addresses_total": 2,
		"metallb_allocator_ipv4_addresses_in_use_total": 2, "metallb_allocator_ipv4_addresses_total": 2,
		"metallb_allocator_ipv6_addresses_in_use_total": 2, "metallb_allocator_ipv6_addresses_total": 2,
		"metallb_allocator_services_allocated_total": 2,
		"metallb_k8s_client_updates_total":           1, "metallb_k8s_client_update_errors_total": 1,
		"metallb_k8s_client_config_loaded_bool": 1, "metallb_k8s_client_config_stale_bool": 1,
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (%v), want %d", name, n, err, want)
		}
	}
	if got := testutil.ToFloat64(c.AddressesInUse.WithLabelValues("pool-a")); got != 4 {
		t.Errorf("addresses in use = %v, want both families' 4", got)
	}
	if got := testutil.ToFloat64(c.AddressesTotal.WithLabelValues("huge")); got != 1<<63-1 {
		t.Errorf("a huge pool's total = %v, want it saturated", got)
	}
	c.DeletePool("pool-a")
	if n, _ := testutil.GatherAndCount(reg, "metallb_allocator_services_allocated_total"); n != 1 {
		t.Errorf("%d services series after deleting pool-a, want huge's only", n)
	}
	// Registering twice on one registry fails instead of hiding a clash.
	if _, err := NewController(reg); err == nil {
		t.Error("a second controller registered on the same registry")
	}
}

func histogramSum(t *testing.T, h prometheus.Histogram) float64 {
	t.Helper()
	return collectHistogram(t, h).GetSampleSum()
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	return collectHistogram(t, h).GetSampleCount()
}

// TestTakeoverPhasesExistBeforeTheFirstTakeover: a series born with the
// first takeover would hide it from rate() and increase().
func TestTakeoverPhasesExistBeforeTheFirstTakeover(t *testing.T) {
	_, reg := newSpeaker(t)
	want := ""
	for _, phase := range []string{"announce", "decision", "detection"} {
		want += `ironlb_layer2_takeover_seconds_count{phase="` + phase + `"} 0` + "\n"
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, mf := range mfs {
		if mf.GetName() != "ironlb_layer2_takeover_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got += `ironlb_layer2_takeover_seconds_count{phase="` + m.GetLabel()[0].GetValue() + `"} ` +
				strconv.FormatUint(m.GetHistogram().GetSampleCount(), 10) + "\n"
		}
	}
	if got != want {
		t.Errorf("before any takeover:\n%s\nwant\n%s", got, want)
	}
}

// TestBGPPeerSeriesExistFromTheSession: a peer's message counters and
// withdraw histogram exist (at zero) once its session state is known.
func TestBGPPeerSeriesExistFromTheSession(t *testing.T) {
	s, reg := newSpeaker(t)
	s.BGPSession("frr", false)
	for _, name := range []string{"metallb_bgp_updates_total", "metallb_bgp_opens_received", "metallb_bgp_total_sent", "ironlb_bgp_withdraw_seconds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series (%v), want the peer's", name, n, err)
		}
	}
	s.BGPPeerRemoved("frr")
	for _, name := range []string{"metallb_bgp_updates_total", "ironlb_bgp_withdraw_seconds", "metallb_bgp_session_up"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
			t.Errorf("%s after the peer went: %d series (%v), want none", name, n, err)
		}
	}
}

// TestAnnouncedBGP: BGP advertisements show in metallb_speaker_announced
// with protocol "bgp", beside layer 2's, and go when withdrawn.
func TestAnnouncedBGP(t *testing.T) {
	s, reg := newSpeaker(t)
	ip := netip.MustParseAddr("192.0.2.9")
	s.AnnouncedBGP("ns/web", []netip.Addr{ip}, true)
	want := `
# HELP metallb_speaker_announced Services being announced from this node; 1 per service, IP and protocol.
# TYPE metallb_speaker_announced gauge
metallb_speaker_announced{ip="192.0.2.9",node="node-a",protocol="bgp",service="ns/web"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "metallb_speaker_announced"); err != nil {
		t.Error(err)
	}
	s.AnnouncedBGP("ns/web", []netip.Addr{ip}, false)
	if n, _ := testutil.GatherAndCount(reg, "metallb_speaker_announced"); n != 0 {
		t.Errorf("%d announced series after the withdrawal, want 0", n)
	}
	if n, _ := testutil.GatherAndCount(reg, "ironlb_layer2_ownership_changes_total"); n != 0 {
		t.Errorf("a BGP announcement counted as a layer-2 ownership change")
	}
}

// TestBFDSeriesAsMetalLBNamesThem: metallb_bfd_* by peer address and vrf,
// every series there from the session's start, up and down events
// counted, everything gone with the session.
func TestBFDSeriesAsMetalLBNamesThem(t *testing.T) {
	s, reg := newSpeaker(t)
	const peer = "192.0.2.1"
	s.BFDSession(peer, false, false)
	s.BFDControlPacket(peer, true)
	s.BFDControlPacket(peer, false)
	s.BFDControlPacket(peer, false)
	s.BFDSession(peer, true, true)
	s.BFDSession(peer, false, true)
	s.BFDSession(peer, true, true)
	want := `
# HELP metallb_bfd_control_packet_input Number of received BFD control packets.
# TYPE metallb_bfd_control_packet_input counter
metallb_bfd_control_packet_input{peer="192.0.2.1",vrf="default"} 2
# HELP metallb_bfd_control_packet_output Number of sent BFD control packets.
# TYPE metallb_bfd_control_packet_output counter
metallb_bfd_control_packet_output{peer="192.0.2.1",vrf="default"} 1
# HELP metallb_bfd_echo_packet_input Number of received BFD echo packets (IronLB runs no echo function: always 0).
# TYPE metallb_bfd_echo_packet_input counter
metallb_bfd_echo_packet_input{peer="192.0.2.1",vrf="default"} 0
# HELP metallb_bfd_session_down_events Number of BFD session down events.
# TYPE metallb_bfd_session_down_events counter
metallb_bfd_session_down_events{peer="192.0.2.1",vrf="default"} 1
# HELP metallb_bfd_session_up BFD session state (1 is up, 0 is down).
# TYPE metallb_bfd_session_up gauge
metallb_bfd_session_up{peer="192.0.2.1",vrf="default"} 1
# HELP metallb_bfd_session_up_events Number of BFD session up events.
# TYPE metallb_bfd_session_up_events counter
metallb_bfd_session_up_events{peer="192.0.2.1",vrf="default"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "metallb_bfd_control_packet_input", "metallb_bfd_control_packet_output",
		"metallb_bfd_echo_packet_input", "metallb_bfd_session_down_events", "metallb_bfd_session_up", "metallb_bfd_session_up_events"); err != nil {
		t.Error(err)
	}
	s.BFDPeerRemoved(peer)
	if n, err := testutil.GatherAndCount(reg, "metallb_bfd_session_up", "metallb_bfd_control_packet_input", "metallb_bfd_session_up_events"); err != nil || n != 0 {
		t.Errorf("BFD series after the session is removed: %d, %v", n, err)
	}
}
