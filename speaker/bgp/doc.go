// Package bgp is the speaker's only user of GoBGP: it owns one embedded
// GoBGP server and makes its sessions and advertised paths match a
// bgpspec.Desired, applying only the difference, and withdraws everything
// (and waits for the withdrawals to leave) when it stops.
//
// Each session gets a GoBGP VRF of its own, with a route target no other
// session imports, and its paths are added to that VRF only. A path meant
// for some peers is thus a separate entry per peer, so adding, changing or
// withdrawing it for one peer sends exactly one UPDATE to that peer and
// nothing to the others. Per-neighbour export policies would also filter
// by peer, but in GoBGP v3 a policy change is only applied by a soft reset
// that re-sends every prefix, and a path's peer set cannot shrink without
// withdrawing it from everyone first.
package bgp
