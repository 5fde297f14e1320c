package layer2

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"golang.org/x/net/bpf"
)

// TestARPFilter runs the socket filter in x/net's BPF machine, which
// follows the kernel's semantics: it keeps every request the reader
// answers (arpQuestion), and drops replies and requests for other
// addresses, with one address, many, and more than a filter names.
func TestARPFilter(t *testing.T) {
	many := make([]netip.Addr, 0, 1500)
	for i := range 1500 {
		many = append(many, netip.AddrFrom4([4]byte{10, 251, byte(i >> 8), byte(i)}))
	}
	tooMany := make([]netip.Addr, 0, maxFilteredVIPs+1)
	for i := range maxFilteredVIPs + 1 {
		tooMany = append(tooMany, netip.AddrFrom4([4]byte{10, 252, byte(i >> 8), byte(i)}))
	}
	tagged := arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, otherIP4)
	tagged[12], tagged[13] = 0x81, 0x00 // an 802.1Q tag where the EtherType was: not read as ARP
	for _, tc := range []struct {
		name  string
		vips  []netip.Addr
		frame []byte
		keep  bool
	}{
		{"request for a VIP", []netip.Addr{vip4, vip6}, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, vip4), true},
		{"request for another address", []netip.Addr{vip4, vip6}, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, otherIP4), false},
		{"reply for a VIP", []netip.Addr{vip4}, arpFrame(t, arp.OperationReply, peerMAC, peerIP4, vip4), false},
		{"no VIPs", nil, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, vip4), false},
		{"only an IPv6 VIP", []netip.Addr{vip6}, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, vip4), false},
		{"not untagged ARP: the reader decides", []netip.Addr{vip4}, tagged, true},
		{"the last of 1,500 VIPs", many, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, many[len(many)-1]), true},
		{"the first of 1,500 VIPs", many, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, many[0]), true},
		{"none of 1,500 VIPs", many, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, vip4), false},
		{"more VIPs than a filter names: every request kept", tooMany, arpFrame(t, arp.OperationRequest, peerMAC, peerIP4, vip4), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := arpFilter(tc.vips)
			if len(prog) > 4096 {
				t.Fatalf("%d instructions, the kernel takes at most 4,096", len(prog))
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("the filter does not assemble: %v", err)
			}
			n, err := vm.Run(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if kept := n > 0; kept != tc.keep {
				t.Errorf("kept %v, want %v", kept, tc.keep)
			}
			if n > 0 && n < len(tc.frame) {
				t.Errorf("kept %d of %d bytes, want the whole frame", n, len(tc.frame))
			}
		})
	}
}
