package main

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Panel sizes on Grafana's 24-column grid.
const (
	fullWidth = 24
	halfWidth = 12
	height    = 8
)

// phasePanel shows the q-quantile of each takeover phase, stacked: the
// stack's top is about the takeover's own quantile.
func phasePanel(q float64) *timeseries.PanelBuilder {
	name := fmt.Sprintf("p%g", q*100)
	return timeseries.NewPanelBuilder().
		Title("Takeover latency " + name + " by phase").
		Description("detection: last packet heard from the failed member → declared dead; decision: → owners recomputed; announce: → the first gratuitous ARP / unsolicited NA on its way.").
		Datasource(datasource).Span(6).Height(height).Unit("s").
		WithTarget(query(fmt.Sprintf(`histogram_quantile(%g, sum by (le, phase) (rate(ironlb_layer2_takeover_seconds_bucket[$__rate_interval])))`, q), "{{phase}}")).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		SpanNulls(common.BoolOrFloat64{Bool: boolPtr(true)})
}

func failoverTiming() *dashboard.DashboardBuilder {
	return newDashboard("ironlb-failover-timing", "IronLB failover timing",
		"Layer-2 failovers as the speakers measure them: how many, how long each phase of a takeover took, who owns each VIP now.").
		WithRow(dashboard.NewRowBuilder("Failovers")).
		WithPanel(stat.NewPanelBuilder().
			Title("Failovers").
			Description("Takeovers after a speaker died, in the dashboard's time range (each takeover by the node that took the Services over).").
			Datasource(datasource).Span(4).Height(height).Unit("short").
			WithTarget(query(`sum(increase(ironlb_layer2_failover_seconds_count[$__range]))`, "failovers")).
			Decimals(0).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Takeover latency p50 / p99").
			Description("From the last packet the new owner heard from the dead speaker to the new owner announcing. An upper bound of the outage a client sees: " +
				"the new owner pings the owner every 100 ms, so that packet precedes the failure by about 100 ms at most; over 20 hard kills it was 20 ms over the client's outage at the median, 74 ms at most (docs/dashboards.md).").
			Datasource(datasource).Span(8).Height(height).Unit("s").
			WithTarget(query(`histogram_quantile(0.5, sum by (le) (rate(ironlb_layer2_failover_seconds_bucket[$__rate_interval])))`, "p50")).
			WithTarget(query(`histogram_quantile(0.99, sum by (le) (rate(ironlb_layer2_failover_seconds_bucket[$__rate_interval])))`, "p99")).
			SpanNulls(common.BoolOrFloat64{Bool: boolPtr(true)})).
		WithPanel(phasePanel(0.5)).
		WithPanel(phasePanel(0.99)).
		WithRow(dashboard.NewRowBuilder("Owners")).
		WithPanel(table.NewPanelBuilder().
			Title("Current owner per VIP").
			Description("The node announcing each Service IP (two rows for one IP: a handoff in progress).").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("none").
			WithTarget(tableQuery(`max by (ip, service, node, protocol) (metallb_speaker_announced)`)).
			WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
				"excludeByName": map[string]bool{"Time": true, "Value": true},
			}})).
		WithPanel(table.NewPanelBuilder().
			Title("Time since last failover per Service").
			Description("Services whose current owner took them over from a speaker that died.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("s").
			WithTarget(tableQuery(`time() - max by (service) (ironlb_layer2_last_failover_timestamp_seconds)`))).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("Ownership timeline").
			Description("Which node announced each Service, over time.").
			Datasource(datasource).Span(fullWidth).Height(height).
			WithTarget(query(`max by (service, node) (metallb_speaker_announced)`, "{{service}} on {{node}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Ownership changes").
			Description("Times a node started or stopped announcing a Service.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("short").
			WithTarget(query(`sum by (service) (increase(ironlb_layer2_ownership_changes_total[$__rate_interval]))`, "{{service}}")).
			DrawStyle(common.GraphDrawStyleBars)).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Members alive").
			Description("Speakers each speaker sees alive in memberlist, itself included.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("short").Decimals(0).
			WithTarget(query(`ironlb_speaker_members_alive`, "{{instance}}")))
}

func overview() *dashboard.DashboardBuilder {
	return newDashboard("ironlb-overview", "IronLB overview",
		"Address pools, what each node announces, layer-2 traffic, BGP sessions and configuration health.").
		WithRow(dashboard.NewRowBuilder("Address pools")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Pool utilisation").
			Description("Share of each IPAddressPool's usable addresses assigned to Services.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("percentunit").Min(0).Max(1).
			WithTarget(query(`max by (pool) (metallb_allocator_addresses_in_use_total) / max by (pool) (metallb_allocator_addresses_total > 0)`, "{{pool}}"))).
		WithPanel(table.NewPanelBuilder().
			Title("Addresses in use").
			Description("Services holding addresses, addresses assigned and usable, in all and per family, per IPAddressPool (huge IPv6 pools saturate).").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("short").
			WithTarget(tableQuery(`max by (pool) (metallb_allocator_services_allocated_total)`).RefId("services")).
			WithTarget(tableQuery(`max by (pool) (metallb_allocator_addresses_in_use_total)`).RefId("in use")).
			WithTarget(tableQuery(`max by (pool) (metallb_allocator_addresses_total)`).RefId("total")).
			WithTarget(tableQuery(`max by (pool) (metallb_allocator_ipv4_addresses_in_use_total)`).RefId("IPv4 in use")).
			WithTarget(tableQuery(`max by (pool) (metallb_allocator_ipv4_addresses_total)`).RefId("IPv4 total")).
			WithTarget(tableQuery(`max by (pool) (metallb_allocator_ipv6_addresses_in_use_total)`).RefId("IPv6 in use")).
			WithTarget(tableQuery(`max by (pool) (metallb_allocator_ipv6_addresses_total)`).RefId("IPv6 total")).
			WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})).
		WithRow(dashboard.NewRowBuilder("Announcements")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Announcements per node").
			Description("Service IPs each node announces, per protocol.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("short").Decimals(0).
			WithTarget(query(`count by (node, protocol) (metallb_speaker_announced)`, "{{node}} ({{protocol}})"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Layer-2 requests and responses").
			Description("ARP requests / neighbour solicitations received for announced IPs, answers and gratuitous announcements sent.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("pps").
			WithTarget(query(`sum by (ip) (rate(metallb_layer2_requests_received[$__rate_interval]))`, "requests {{ip}}")).
			WithTarget(query(`sum by (ip) (rate(metallb_layer2_responses_sent[$__rate_interval]))`, "responses {{ip}}")).
			WithTarget(query(`sum by (ip) (rate(metallb_layer2_gratuitous_sent[$__rate_interval]))`, "gratuitous {{ip}}"))).
		WithRow(dashboard.NewRowBuilder("BGP")).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("BGP session state").
			Description("1: established. Empty until BGP peers are configured.").
			Datasource(datasource).Span(halfWidth).Height(height).
			WithTarget(query(`max by (instance, peer) (metallb_bgp_session_up)`, "{{instance}} → {{peer}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("BGP updates and prefixes").
			Description("UPDATE messages sent, prefixes advertised and prefixes not yet sent (all of them while a session is down), per peer (address:port). Empty until BGP peers are configured.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("short").
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_updates_total[$__rate_interval]))`, "updates/s {{peer}}")).
			WithTarget(query(`sum by (peer) (metallb_bgp_announced_prefixes_total)`, "prefixes {{peer}}")).
			WithTarget(query(`sum by (peer) (metallb_bgp_pending_prefixes_total)`, "pending {{peer}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("BGP messages").
			Description("BGP messages sent and received per second, per peer and type (the counters MetalLB's FRR mode exports). Notifications and route refreshes are counted sent only. Empty until BGP peers are configured.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("short").
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_total_sent[$__rate_interval]))`, "sent {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_total_received[$__rate_interval]))`, "received {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_opens_sent[$__rate_interval]))`, "OPEN sent {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_opens_received[$__rate_interval]))`, "OPEN received {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_keepalives_sent[$__rate_interval]))`, "KEEPALIVE sent {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_keepalives_received[$__rate_interval]))`, "KEEPALIVE received {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_updates_total_received[$__rate_interval]))`, "UPDATE received {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_notifications_sent[$__rate_interval]))`, "NOTIFICATION sent {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bgp_route_refresh_sent[$__rate_interval]))`, "ROUTE-REFRESH sent {{peer}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("BGP withdraw latency").
			Description("Time from a speaker deciding to withdraw paths (a Service or node change, or the speaker stopping) to the UPDATE being sent, p50 and p99 per peer. Empty until paths are withdrawn from an established session.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("s").
			WithTarget(query(`histogram_quantile(0.5, sum by (le, peer) (rate(ironlb_bgp_withdraw_seconds_bucket[$__rate_interval])))`, "p50 {{peer}}")).
			WithTarget(query(`histogram_quantile(0.99, sum by (le, peer) (rate(ironlb_bgp_withdraw_seconds_bucket[$__rate_interval])))`, "p99 {{peer}}"))).
		WithPanel(statetimeline.NewPanelBuilder().
			Title("BFD sessions").
			Description("BFD session state per speaker and peer (1: up), and sessions going up and down per peer; a BFD session going down resets its BGP session. Empty until a BGPPeer names a BFDProfile.").
			Datasource(datasource).Span(halfWidth).Height(height).
			WithTarget(query(`max by (instance, peer) (metallb_bfd_session_up)`, "{{instance}} → {{peer}}")).
			WithTarget(query(`sum by (peer) (increase(metallb_bfd_session_up_events[$__rate_interval]))`, "went up {{peer}}")).
			WithTarget(query(`sum by (peer) (increase(metallb_bfd_session_down_events[$__rate_interval]))`, "went down {{peer}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("BFD packets").
			Description("BFD control packets received and sent per second, per peer; echo packets stay 0 (IronLB runs BFD in asynchronous mode only). Empty until a BGPPeer names a BFDProfile.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("pps").
			WithTarget(query(`sum by (peer) (rate(metallb_bfd_control_packet_input[$__rate_interval]))`, "in {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bfd_control_packet_output[$__rate_interval]))`, "out {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bfd_echo_packet_input[$__rate_interval]))`, "echo in {{peer}}")).
			WithTarget(query(`sum by (peer) (rate(metallb_bfd_echo_packet_output[$__rate_interval]))`, "echo out {{peer}}"))).
		WithRow(dashboard.NewRowBuilder("Configuration")).
		WithPanel(stat.NewPanelBuilder().
			Title("Configuration stale").
			Description("Components running on their last valid configuration because the newest is invalid (see their logs and Events).").
			Datasource(datasource).Span(6).Height(height).Unit("short").Decimals(0).
			WithTarget(query(`sum(metallb_k8s_client_config_stale_bool)`, "stale")).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))).
		WithPanel(stat.NewPanelBuilder().
			Title("Configuration not loaded").
			Description("Components that have not loaded a valid configuration yet.").
			Datasource(datasource).Span(6).Height(height).Unit("short").Decimals(0).
			WithTarget(query(`count(metallb_k8s_client_config_loaded_bool == 0) or vector(0)`, "not loaded")).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Configuration reloads").
			Description("Configuration updates processed and failed, per component.").
			Datasource(datasource).Span(halfWidth).Height(height).Unit("short").
			WithTarget(query(`sum by (instance) (increase(metallb_k8s_client_updates_total[$__rate_interval]))`, "reloads {{instance}}")).
			WithTarget(query(`sum by (instance) (increase(metallb_k8s_client_update_errors_total[$__rate_interval]))`, "failed {{instance}}")).
			DrawStyle(common.GraphDrawStyleBars))
}

func boolPtr(b bool) *bool { return &b }
