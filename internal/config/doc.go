// Package config turns the metallb.io objects of IronLB's namespace into one
// validated, immutable snapshot. It is the only place validation rules live:
// the admission webhook, the controller and the speakers all call Parse, so
// they cannot disagree about what is valid.
//
// Validation runs in tiers: each object alone, then across objects
// (overlapping pools, duplicate peers, unknown community aliases), then
// references that may be dangling only because of arrival order (an
// advertisement naming a pool not created yet), which are warnings.
package config
