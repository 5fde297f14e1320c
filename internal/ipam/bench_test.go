package ipam

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkAllocateNext measures giving the next Service the lowest free IP
// (and releasing it again) in pools of growing size, each already holding
// many Services. The cost must follow the number of free intervals, not the
// pool's size or the number of IPs in use:
//
//	go test ./internal/ipam -run '^$' -bench AllocateNext -benchmem
func BenchmarkAllocateNext(b *testing.B) {
	for _, bc := range []struct {
		cidr     string
		assigned int
	}{
		{"10.0.0.0/24", 200},
		{"10.0.0.0/16", 50_000},
		{"10.0.0.0/8", 100_000},
	} {
		b.Run(fmt.Sprintf("pool=%s/assigned=%d", bc.cidr[len("10.0.0.0"):], bc.assigned), func(b *testing.B) {
			a := New()
			a.SetPools([]Pool{pool("p", bc.cidr)})
			for i := range bc.assigned {
				if _, err := a.Allocate(svc(fmt.Sprintf("ns/s%d", i))); err != nil {
					b.Fatal(err)
				}
			}
			next := svc("ns/next")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Allocate(next); err != nil {
					b.Fatal(err)
				}
				a.Release(next.Key)
			}
		})
	}
}

// BenchmarkAllocatePinned measures claiming a requested IP in the middle of
// a fragmented /8: every other address of the first 200,000 held.
func BenchmarkAllocatePinned(b *testing.B) {
	a := New()
	a.SetPools([]Pool{pool("p", "10.0.0.0/8")})
	ip := netip.MustParseAddr("10.0.0.0")
	for i := range 100_000 {
		if err := a.Restore(svc(fmt.Sprintf("ns/s%d", i)), []netip.Addr{ip}); err != nil {
			b.Fatal(err)
		}
		ip = ip.Next().Next()
	}
	want := svc("ns/pinned", pinned("10.1.134.161"))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Allocate(want); err != nil {
			b.Fatal(err)
		}
		a.Release(want.Key)
	}
}
