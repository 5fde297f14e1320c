// Package metrics defines IronLB's Prometheus collectors: MetalLB's metric
// names, so existing dashboards and alerts work, and IronLB's own under
// ironlb_. Collectors are created against an injected Registerer; nothing
// registers itself.
package metrics
