package layer2

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"golang.org/x/net/bpf"
)

// The ARP socket hears every ARP frame on its interface: on a segment with
// many nodes and many VIPs, every speaker would wake for every request for
// every address, its own or not (a client asking 80 VIPs twice a second
// wakes each of 40 speakers 160 times a second). arpFilter is a socket
// filter that lets the kernel drop requests for addresses this speaker does
// not answer, so a speaker wakes only for the requests it answers.

// Offsets in an untagged Ethernet frame carrying ARP for IPv4 over
// Ethernet: the EtherType, the operation and the target protocol address.
const (
	etherTypeOffset = 12
	arpOpOffset     = 14 + 6
	arpTargetOffset = 14 + 24
	arpRequest      = 1
)

// maxFilteredVIPs bounds the addresses one filter names: two instructions
// each, within the kernel's 4,096 per program. With more, the filter lets
// every request through and the speaker picks its own, as without one.
const maxFilteredVIPs = 2000

// acceptFrame is a filter's "keep it": the whole frame.
const acceptFrame = 0xffff

// arpFilter is the program that keeps the ARP requests for vips (IPv4 ones;
// others are ignored), every frame that is not an untagged ARP frame (let
// the reader decide), and drops the rest: replies, announcements and
// requests for other addresses, which the reader would drop too.
func arpFilter(vips []netip.Addr) []bpf.Instruction {
	var targets []uint32
	for _, ip := range vips {
		if ip.Is4() {
			targets = append(targets, binary.BigEndian.Uint32(ip.AsSlice()))
		}
	}
	slices.Sort(targets)
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: etherTypeOffset, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0806, SkipTrue: 1},
		bpf.RetConstant{Val: acceptFrame},
		bpf.LoadAbsolute{Off: arpOpOffset, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arpRequest, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
	if len(targets) > maxFilteredVIPs {
		return append(prog, bpf.RetConstant{Val: acceptFrame})
	}
	prog = append(prog, bpf.LoadAbsolute{Off: arpTargetOffset, Size: 4})
	for _, t := range targets {
		// Each comparison has its own accept, so no jump spans more than
		// one instruction, whatever the number of addresses.
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: t, SkipFalse: 1},
			bpf.RetConstant{Val: acceptFrame})
	}
	return append(prog, bpf.RetConstant{Val: 0})
}
