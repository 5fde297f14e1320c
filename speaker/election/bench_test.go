package election

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkLeave measures a member's death with many Services spread over
// 4 nodes: the cost follows the Services the dead node owned (a quarter),
// not a walk over every Service.
//
//	go test ./speaker/election -run '^$' -bench Leave
func BenchmarkLeave(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			p := NewPlan(seedNodes)
			ip := netip.MustParseAddr("10.0.0.0")
			for i := range n {
				p.SetService(Service{Key: fmt.Sprintf("ns/s%d", i), IP: ip, Candidates: seedNodes})
				ip = ip.Next()
			}
			victim := p.Owner("ns/s0")
			b.ResetTimer()
			for b.Loop() {
				p.Leave(victim)
				p.Join(victim)
			}
		})
	}
}
