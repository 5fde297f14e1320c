// Package rtt is the successor's watch's estimate of a member's ping round
// trips (speaker/loop), and of how long a member must have been silent to
// be checked. It stands alone so that the simulation of the failure
// detector (test/bench/sim) runs the speaker's own rule.
package rtt

import "time"

// Estimate smooths round trips as TCP does its own (RFC 6298): a smoothed
// time and its variation. The zero value has seen none.
type Estimate struct {
	srtt, rttvar time.Duration
	seen         bool
}

// Observe takes one round trip in.
func (e *Estimate) Observe(r time.Duration) {
	if !e.seen {
		e.srtt, e.rttvar, e.seen = r, r/2, true
		return
	}
	diff := e.srtt - r
	if diff < 0 {
		diff = -diff
	}
	e.rttvar = (3*e.rttvar + diff) / 4
	e.srtt = (7*e.srtt + r) / 8
}

// Patience is how long a member must have been silent to be checked: four
// retransmission timeouts. Answers on a LAN take a millisecond, so then
// only the missed pings count; a member whose answers come late (this
// machine or its own starved of CPU) is given that much longer.
func (e *Estimate) Patience() time.Duration { return 4 * (e.srtt + 4*e.rttvar) }
