package migrate

// Differences are what a MetalLB user notices after switching to IronLB
// (docs/migration.md carries the same list, with reasons; a test keeps the
// two in step).
var Differences = []string{
	"Layer-2 failover is sub-second (memberlist timers tuned for a LAN) and the new owner sends gratuitous ARP/NDP bursts; MetalLB's takes seconds.",
	"BGP runs in an embedded GoBGP, not FRR or frr-k8s: FRR-mode values (speaker.frr, frrk8s) and FRRConfiguration objects have no effect. BFD runs in the speaker itself (asynchronous mode, single hop or multihop); a profile asking for echoMode gets a Warning (BGPPeerNotFullyConfigured: the session runs) and BFD runs without the echo function. Unnumbered peers (`interface`) and `dualStackAddressFamily` work as in FRR mode (a session carries its own family unless dualStackAddressFamily is set; the speaker sends Router Advertisements with lifetime 0 on an unnumbered link, as FRR does on the node in FRR mode); a `bfdProfile` on an unnumbered peer runs BFD single hop between the link-local addresses, as FRR does. A peer naming a `vrf` still gets no session (Warning BGPPeerRefused): the kernel this project is tested on has no VRF support, so it is not built untested.",
	"Metrics keep MetalLB's names and labels as FRR mode exports them: metallb_bgp_*{peer=\"address:port\", vrf=\"default\"} (native mode's session_up, updates_total, announced_prefixes_total and pending_prefixes_total, and FRR mode's message counters opens_sent, opens_received, notifications_sent, updates_total_received, keepalives_sent, keepalives_received, route_refresh_sent, total_sent, total_received; a query naming only peer, as native mode's dashboards do, still matches) and metallb_bfd_*{peer, vrf} (no zebra_notifications; echo counters stay 0); IronLB adds ironlb_* failover timings.",
	"The PrometheusRule carries MetalLB's alerts under MetalLB's names and thresholds, plus IronLBVIPUnannounced, IronLBFailoverSlow, IronLBSpeakerMissing and IronLBSpeakersDisagree.",
	"The chart's speakers serve /healthz on 17473 (MetalLB's 17472), so both can run on one node during the switch; the memberlist Secret is IronLB's own (FULLNAME-memberlist), so the two speaker sets never mix.",
	"A BGPPeer with holdTime 0 (no hold timer, no keepalives) is admitted with a warning, as MetalLB admits it, but its session is refused (BGPPeerRefused): IronLB's embedded BGP cannot turn the hold timer off.",
	"A BGPPeer read as v1beta1 carries its v1beta2-only fields in the annotation ironlb.io/v1beta2-only-fields, so a v1beta1 client's update no longer erases them.",
	"The controller runs as two replicas taking turns through the Lease FULLNAME-controller (a standby assigns IPs about 7 s after the leader's node dies); MetalLB runs one. Both serve the webhook and report the configuration metrics.",
	"The Event ClearAssignment is never recorded: IronLB keeps an IP that left every pool instead of giving the Service a new one (IPNotInPool says so; see below).",
}
