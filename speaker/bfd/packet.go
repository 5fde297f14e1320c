package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// State is a session's state (RFC 5880 §4.1, the Sta field).
type State uint8

// The four states, in their wire values.
const (
	StateAdminDown State = 0
	StateDown      State = 1
	StateInit      State = 2
	StateUp        State = 3
)

func (s State) String() string {
	switch s {
	case StateAdminDown:
		return "AdminDown"
	case StateDown:
		return "Down"
	case StateInit:
		return "Init"
	case StateUp:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag says why a session last left Up (RFC 5880 §4.1).
type Diag uint8

// The diagnostic codes RFC 5880 defines.
const (
	DiagNone                  Diag = 0
	DiagDetectTimeExpired     Diag = 1
	DiagEchoFailed            Diag = 2
	DiagNeighborDown          Diag = 3
	DiagForwardingReset       Diag = 4
	DiagPathDown              Diag = 5
	DiagConcatenatedPathDown  Diag = 6
	DiagAdminDown             Diag = 7
	DiagReverseConcatPathDown Diag = 8
)

func (d Diag) String() string {
	switch d {
	case DiagNone:
		return "none"
	case DiagDetectTimeExpired:
		return "control detection time expired"
	case DiagEchoFailed:
		return "echo function failed"
	case DiagNeighborDown:
		return "neighbor signaled session down"
	case DiagForwardingReset:
		return "forwarding plane reset"
	case DiagPathDown:
		return "path down"
	case DiagConcatenatedPathDown:
		return "concatenated path down"
	case DiagAdminDown:
		return "administratively down"
	case DiagReverseConcatPathDown:
		return "reverse concatenated path down"
	}
	return fmt.Sprintf("diag(%d)", uint8(d))
}

// ControlPacket is a BFD Control packet without authentication (RFC 5880
// §4.1). Intervals travel in microseconds; they are durations here.
type ControlPacket struct {
	Diag  Diag
	State State
	// Poll and Final run a Poll Sequence (§6.5).
	Poll, Final bool
	// ControlPlaneIndependent: BFD does not share fate with the control
	// plane. IronLB's BFD runs in the speaker, beside BGP: always false.
	ControlPlaneIndependent bool
	// Demand mode (§6.6), which IronLB never asks for.
	Demand            bool
	DetectMult        uint8
	MyDiscr           uint32
	YourDiscr         uint32
	DesiredMinTx      time.Duration
	RequiredMinRx     time.Duration
	RequiredMinEchoRx time.Duration
}

// ControlPacketLen is the length of a Control packet without
// authentication.
const ControlPacketLen = 24

const version = 1

// Flag bits of the second byte.
const (
	flagPoll       = 1 << 5
	flagFinal      = 1 << 4
	flagCPI        = 1 << 3
	flagAuth       = 1 << 2
	flagDemand     = 1 << 1
	flagMultipoint = 1 << 0
)

// Errors of ParseControlPacket, one per reception check of RFC 5880
// §6.8.6 that a packet fails on its own.
var (
	ErrShort           = errors.New("shorter than a BFD Control packet")
	ErrVersion         = errors.New("not BFD version 1")
	ErrLength          = errors.New("length field disagrees with the packet")
	ErrAuth            = errors.New("authenticated, and no authentication is configured")
	ErrDetectMult      = errors.New("detect multiplier is zero")
	ErrMultipoint      = errors.New("multipoint bit set")
	ErrMyDiscr         = errors.New("my discriminator is zero")
	ErrYourDiscrNeeded = errors.New("your discriminator is zero in a packet whose state is neither Down nor AdminDown")
)

// ParseControlPacket decodes b, discarding it as RFC 5880 §6.8.6 requires.
func ParseControlPacket(b []byte) (ControlPacket, error) {
	if len(b) < ControlPacketLen {
		return ControlPacket{}, ErrShort
	}
	if b[0]>>5 != version {
		return ControlPacket{}, ErrVersion
	}
	flags := b[1]
	if flags&flagAuth != 0 {
		return ControlPacket{}, ErrAuth
	}
	if l := int(b[3]); l < ControlPacketLen || l > len(b) {
		return ControlPacket{}, ErrLength
	}
	p := ControlPacket{
		Diag:                    Diag(b[0] & 0x1f),
		State:                   State(flags >> 6),
		Poll:                    flags&flagPoll != 0,
		Final:                   flags&flagFinal != 0,
		ControlPlaneIndependent: flags&flagCPI != 0,
		Demand:                  flags&flagDemand != 0,
		DetectMult:              b[2],
		MyDiscr:                 binary.BigEndian.Uint32(b[4:]),
		YourDiscr:               binary.BigEndian.Uint32(b[8:]),
		DesiredMinTx:            micros(binary.BigEndian.Uint32(b[12:])),
		RequiredMinRx:           micros(binary.BigEndian.Uint32(b[16:])),
		RequiredMinEchoRx:       micros(binary.BigEndian.Uint32(b[20:])),
	}
	switch {
	case p.DetectMult == 0:
		return ControlPacket{}, ErrDetectMult
	case flags&flagMultipoint != 0:
		return ControlPacket{}, ErrMultipoint
	case p.MyDiscr == 0:
		return ControlPacket{}, ErrMyDiscr
	case p.YourDiscr == 0 && p.State != StateDown && p.State != StateAdminDown:
		return ControlPacket{}, ErrYourDiscrNeeded
	}
	return p, nil
}

// Marshal encodes p. Intervals are rounded down to microseconds and
// saturate at the field's largest value.
func (p ControlPacket) Marshal() []byte {
	b := make([]byte, ControlPacketLen)
	b[0] = version<<5 | uint8(p.Diag)&0x1f
	flags := uint8(p.State&3) << 6
	for _, f := range []struct {
		set bool
		bit uint8
	}{{p.Poll, flagPoll}, {p.Final, flagFinal}, {p.ControlPlaneIndependent, flagCPI}, {p.Demand, flagDemand}} {
		if f.set {
			flags |= f.bit
		}
	}
	b[1] = flags
	b[2] = p.DetectMult
	b[3] = ControlPacketLen
	binary.BigEndian.PutUint32(b[4:], p.MyDiscr)
	binary.BigEndian.PutUint32(b[8:], p.YourDiscr)
	binary.BigEndian.PutUint32(b[12:], toMicros(p.DesiredMinTx))
	binary.BigEndian.PutUint32(b[16:], toMicros(p.RequiredMinRx))
	binary.BigEndian.PutUint32(b[20:], toMicros(p.RequiredMinEchoRx))
	return b
}

func micros(us uint32) time.Duration { return time.Duration(us) * time.Microsecond }

func toMicros(d time.Duration) uint32 {
	us := d / time.Microsecond
	switch {
	case us <= 0:
		return 0
	case us > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(us)
}
