package ipam

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"
)

// Family is an IP address family.
type Family uint8

const (
	// IPv4 addresses.
	IPv4 Family = 4
	// IPv6 addresses.
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// FamilyOf returns the family of a.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// Range is an inclusive range of addresses of one family.
type Range struct {
	First, Last netip.Addr
}

// Family of the range's addresses.
func (r Range) Family() Family { return FamilyOf(r.First) }

// Contains reports whether a is in the range.
func (r Range) Contains(a netip.Addr) bool {
	return r.First.BitLen() == a.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Overlaps reports whether r and o share an address.
func (r Range) Overlaps(o Range) bool {
	return r.First.BitLen() == o.First.BitLen() && r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

// Size is the number of addresses in the range.
func (r Range) Size() *big.Int {
	n := new(big.Int).Sub(new(big.Int).SetBytes(r.Last.AsSlice()), new(big.Int).SetBytes(r.First.AsSlice()))
	return n.Add(n, big.NewInt(1))
}

func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// ParseRange parses one entry of IPAddressPool.spec.addresses: a CIDR
// ("10.0.0.0/24", host bits ignored as MetalLB does) or an inclusive range
// "first-last" of one family, spaces around the dash allowed.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Range{}, fmt.Errorf("empty address range")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, fmt.Errorf("invalid CIDR %q: %w", s, err)
		}
		if p.Addr().Zone() != "" {
			return Range{}, fmt.Errorf("invalid CIDR %q: zones are not allowed", s)
		}
		p = p.Masked()
		return checkMapped(s, Range{First: p.Addr(), Last: lastOf(p)})
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, fmt.Errorf("invalid address range %q: want a CIDR or first-last", s)
	}
	a, err := parseAddr(first)
	if err != nil {
		return Range{}, fmt.Errorf("invalid address range %q: %w", s, err)
	}
	b, err := parseAddr(last)
	if err != nil {
		return Range{}, fmt.Errorf("invalid address range %q: %w", s, err)
	}
	if a.BitLen() != b.BitLen() {
		return Range{}, fmt.Errorf("invalid address range %q: mixes IPv4 and IPv6", s)
	}
	if a.Compare(b) > 0 {
		return Range{}, fmt.Errorf("invalid address range %q: start is after end", s)
	}
	return checkMapped(s, Range{First: a, Last: b})
}

// mappedV4 is ::ffff:0:0/96, the IPv4-mapped IPv6 addresses (RFC 4291
// 2.5.5.2).
var mappedV4 = Range{First: netip.MustParseAddr("::ffff:0.0.0.0"), Last: netip.MustParseAddr("::ffff:255.255.255.255")}

// checkMapped refuses a range holding IPv4-mapped IPv6 addresses. They are
// IPv4 addresses in IPv6 clothes: a Service asking for one gets the IPv4
// form, the kernel treats them as IPv4, and "::/80" printed as a range
// ("::-::ffff:255.255.255.255") would read back as mixing families. Found
// by FuzzParseRange.
func checkMapped(s string, r Range) (Range, error) {
	if r.Overlaps(mappedV4) {
		return Range{}, fmt.Errorf("invalid address range %q: holds IPv4-mapped IPv6 addresses (::ffff:0:0/96); write IPv4 addresses in IPv4 form", s)
	}
	return r, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s: zones are not allowed", s)
	}
	return a, nil
}

// lastOf returns the highest address of a masked prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for bit := p.Bits(); bit < len(b)*8; bit++ {
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// buggy reports whether a is an IPv4 address ending in .0 or .255, which
// some clients treat as a network or broadcast address whatever the mask.
func buggy(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	last := a.As4()[3]
	return last == 0 || last == 255
}

// buggyCount counts the addresses of an IPv4 range ending in .0 or .255,
// arithmetically, so a /8 costs nothing.
func buggyCount(r Range) uint64 {
	if !r.First.Is4() {
		return 0
	}
	lo, hi := u32(r.First), u32(r.Last)
	// Addresses ≡ 0 (mod 256) and ≡ 255 (mod 256) in [lo, hi].
	countMod := func(rem uint64) uint64 {
		l, h := uint64(lo), uint64(hi)
		first := l + (rem-l%256+256)%256
		if first > h {
			return 0
		}
		return (h-first)/256 + 1
	}
	return countMod(0) + countMod(255)
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
