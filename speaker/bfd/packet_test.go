package bfd

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestControlPacketRoundTrip(t *testing.T) {
	for _, p := range []ControlPacket{
		{State: StateDown, DetectMult: 3, MyDiscr: 1, DesiredMinTx: time.Second, RequiredMinRx: 300 * time.Millisecond},
		{Diag: DiagNeighborDown, State: StateUp, Poll: true, DetectMult: 255, MyDiscr: 0xffffffff, YourDiscr: 7,
			DesiredMinTx: 10 * time.Millisecond, RequiredMinRx: 60 * time.Second, RequiredMinEchoRx: 50 * time.Millisecond},
		{State: StateInit, Final: true, ControlPlaneIndependent: true, DetectMult: 2, MyDiscr: 9, YourDiscr: 10},
		{State: StateAdminDown, Diag: DiagAdminDown, Demand: true, DetectMult: 1, MyDiscr: 3},
	} {
		b := p.Marshal()
		if len(b) != ControlPacketLen {
			t.Fatalf("%d bytes", len(b))
		}
		got, err := ParseControlPacket(b)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if got != p {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
		}
	}
}

// TestControlPacketWire: the bytes of a packet as FRR's bfdd sends it
// (Down, 1 s transmit, 300 ms receive, multiplier 3), field by field.
func TestControlPacketWire(t *testing.T) {
	wire := []byte{
		0x20, 0x40, 0x03, 0x18, // version 1, diag 0; state Down; mult 3; length 24
		0x00, 0x00, 0x00, 0x2a, // my discriminator 42
		0x00, 0x00, 0x00, 0x00, // your discriminator 0
		0x00, 0x0f, 0x42, 0x40, // desired min TX 1,000,000 µs
		0x00, 0x04, 0x93, 0xe0, // required min RX 300,000 µs
		0x00, 0x00, 0xc3, 0x50, // required min echo RX 50,000 µs
	}
	p, err := ParseControlPacket(wire)
	if err != nil {
		t.Fatal(err)
	}
	want := ControlPacket{State: StateDown, DetectMult: 3, MyDiscr: 42, DesiredMinTx: time.Second,
		RequiredMinRx: 300 * time.Millisecond, RequiredMinEchoRx: 50 * time.Millisecond}
	if p != want {
		t.Fatalf("got %+v\nwant %+v", p, want)
	}
	if !bytes.Equal(p.Marshal(), wire) {
		t.Errorf("marshal: % x\nwant     % x", p.Marshal(), wire)
	}
}

func TestParseControlPacketDiscards(t *testing.T) {
	good := ControlPacket{State: StateUp, DetectMult: 3, MyDiscr: 1, YourDiscr: 2}.Marshal()
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:23], ErrShort},
		{"version 0", mutate(func(b []byte) []byte { b[0] &^= 0xe0; return b }), ErrVersion},
		{"length under 24", mutate(func(b []byte) []byte { b[3] = 20; return b }), ErrLength},
		{"length past the packet", mutate(func(b []byte) []byte { b[3] = 30; return b }), ErrLength},
		{"authenticated", mutate(func(b []byte) []byte { b[1] |= flagAuth; return b }), ErrAuth},
		{"multiplier 0", mutate(func(b []byte) []byte { b[2] = 0; return b }), ErrDetectMult},
		{"multipoint", mutate(func(b []byte) []byte { b[1] |= flagMultipoint; return b }), ErrMultipoint},
		{"my discriminator 0", mutate(func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b }), ErrMyDiscr},
		{"Up without your discriminator", mutate(func(b []byte) []byte { copy(b[8:12], []byte{0, 0, 0, 0}); return b }), ErrYourDiscrNeeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseControlPacket(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	// Down with no your discriminator is how every session starts.
	first := ControlPacket{State: StateDown, DetectMult: 3, MyDiscr: 1}.Marshal()
	if _, err := ParseControlPacket(first); err != nil {
		t.Errorf("a first Down packet: %v", err)
	}
	// A longer packet (trailing bytes the length field covers) is accepted.
	long := append(bytes.Clone(good), 0, 0)
	long[3] = 26
	if _, err := ParseControlPacket(long); err != nil {
		t.Errorf("26-byte packet: %v", err)
	}
}

func TestToMicrosSaturates(t *testing.T) {
	for d, want := range map[time.Duration]uint32{-time.Second: 0, 0: 0, 999 * time.Nanosecond: 0, time.Millisecond: 1000, 2 * time.Hour: 0xffffffff} {
		if got := toMicros(d); got != want {
			t.Errorf("toMicros(%v) = %d, want %d", d, got, want)
		}
	}
}

// FuzzParseControlPacket: any bytes parse or are refused without a panic,
// and whatever parses survives a round trip.
func FuzzParseControlPacket(f *testing.F) {
	f.Add(ControlPacket{State: StateDown, DetectMult: 3, MyDiscr: 1, DesiredMinTx: time.Second}.Marshal())
	f.Add(ControlPacket{State: StateUp, Poll: true, DetectMult: 3, MyDiscr: 1, YourDiscr: 2}.Marshal())
	f.Add([]byte{0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseControlPacket(b)
		if err != nil {
			return
		}
		again, err := ParseControlPacket(p.Marshal())
		if err != nil {
			t.Fatalf("re-parsing %+v: %v", p, err)
		}
		if again != p {
			t.Fatalf("round trip changed %+v into %+v", p, again)
		}
	})
}
