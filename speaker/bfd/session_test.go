package bfd

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

var fast = Config{DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond, DetectMult: 3}

// deliver hands to's packet to from... from sends its periodic packet to
// to, and to answers a Poll with a Final at once, as the I/O does.
func deliver(t *testing.T, from, to *Session, now time.Time) Transition {
	t.Helper()
	tr, final, err := to.Receive(from.Packet(false), now)
	if err != nil {
		t.Fatal(err)
	}
	if final {
		if _, _, err := from.Receive(to.Packet(true), now); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// TestThreeWayHandshake: two Down sessions come Up (RFC 5880 §6.2), then
// poll to their fast intervals, and the detection time follows.
func TestThreeWayHandshake(t *testing.T) {
	a, b := NewSession(fast, 1), NewSession(fast, 2)
	if iv, ok := a.TxInterval(); !ok || iv != SlowTx {
		t.Fatalf("a Down session sends every %v (%v), want %v", iv, ok, SlowTx)
	}
	if tr := deliver(t, a, b, t0); tr.To != StateInit {
		t.Fatalf("b after a's Down: %v, want Init", tr.To)
	}
	if tr := deliver(t, b, a, t0); tr.To != StateUp {
		t.Fatalf("a after b's Init: %v, want Up", tr.To)
	}
	// Up, each polls its fast interval to the other; the Final ends the
	// Poll Sequence.
	if p := a.Packet(false); !p.Poll || p.DesiredMinTx != fast.DesiredMinTx {
		t.Fatalf("a's first packet once Up: %+v, want a Poll with %v", p, fast.DesiredMinTx)
	}
	if tr := deliver(t, a, b, t0); tr.To != StateUp {
		t.Fatalf("b after a's Up: %v, want Up", tr.To)
	}
	deliver(t, b, a, t0)
	for name, s := range map[string]*Session{"a": a, "b": b} {
		if p := s.Packet(false); p.Poll {
			t.Errorf("%s still polls after its Final", name)
		}
		if iv, _ := s.TxInterval(); iv != 300*time.Millisecond {
			t.Errorf("%s sends every %v, want 300ms", name, iv)
		}
		if d := s.DetectionTime(); d != 900*time.Millisecond {
			t.Errorf("%s detection time %v, want 900ms", name, d)
		}
	}
}

func upPair(t *testing.T, ca, cb Config) (*Session, *Session) {
	t.Helper()
	a, b := NewSession(ca, 1), NewSession(cb, 2)
	deliver(t, a, b, t0)
	deliver(t, b, a, t0)
	deliver(t, a, b, t0)
	deliver(t, b, a, t0)
	deliver(t, a, b, t0)
	if a.State() != StateUp || b.State() != StateUp {
		t.Fatalf("not Up: a %v, b %v", a.State(), b.State())
	}
	return a, b
}

// TestNegotiatedIntervals: each side sends no faster than the other
// accepts, and detects with the other's multiplier (§6.8.2, §6.8.4).
func TestNegotiatedIntervals(t *testing.T) {
	a, b := upPair(t,
		Config{DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 500 * time.Millisecond, DetectMult: 5},
		Config{DesiredMinTx: 200 * time.Millisecond, RequiredMinRx: 50 * time.Millisecond, DetectMult: 2})
	for _, tc := range []struct {
		name         string
		s            *Session
		tx, detected time.Duration
	}{
		// a wants 100 ms, b accepts 50: 100. It detects b with b's 2 × max(500 it accepts, 200 b sends).
		{"a", a, 100 * time.Millisecond, 1000 * time.Millisecond},
		// b wants 200, a accepts 500: 500. It detects a with 5 × max(50, 100).
		{"b", b, 500 * time.Millisecond, 500 * time.Millisecond},
	} {
		if iv, _ := tc.s.TxInterval(); iv != tc.tx {
			t.Errorf("%s sends every %v, want %v", tc.name, iv, tc.tx)
		}
		if d := tc.s.DetectionTime(); d != tc.detected {
			t.Errorf("%s detection time %v, want %v", tc.name, d, tc.detected)
		}
	}
}

func TestSessionGoesDown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    func(a, b *Session) Transition
		wantDiag Diag
	}{
		{"silence past the detection time", func(a, _ *Session) Transition {
			if tr := a.Expire(t0.Add(899 * time.Millisecond)); tr.Changed() {
				t.Fatalf("down before the detection time: %+v", tr)
			}
			return a.Expire(t0.Add(900 * time.Millisecond))
		}, DiagDetectTimeExpired},
		{"the remote system says Down", func(a, b *Session) Transition {
			b.Expire(t0.Add(time.Hour)) // b timed a out
			tr, _, _ := a.Receive(b.Packet(false), t0.Add(100*time.Millisecond))
			return tr
		}, DiagNeighborDown},
		{"the remote system says AdminDown", func(a, _ *Session) Transition {
			tr, _, _ := a.Receive(ControlPacket{State: StateAdminDown, Diag: DiagAdminDown, DetectMult: 3, MyDiscr: 2, YourDiscr: 1,
				DesiredMinTx: time.Second, RequiredMinRx: 300 * time.Millisecond}, t0)
			return tr
		}, DiagNeighborDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := upPair(t, fast, fast)
			tr := tc.fault(a, b)
			if tr.From != StateUp || tr.To != StateDown || tr.Diag != tc.wantDiag {
				t.Fatalf("transition %+v, want Up → Down (%v)", tr, tc.wantDiag)
			}
			if want := tc.name == "the remote system says AdminDown"; tr.RemoteAdminDown != want {
				t.Errorf("RemoteAdminDown %v, want %v", tr.RemoteAdminDown, want)
			}
			if iv, _ := a.TxInterval(); iv != SlowTx {
				t.Errorf("Down again, a sends every %v, want %v", iv, SlowTx)
			}
			if p := a.Packet(false); p.State != StateDown || p.Diag != tc.wantDiag {
				t.Errorf("a's next packet %+v", p)
			}
		})
	}
}

// TestDetectionForgetsRemote: after a detection timeout the session starts
// over (your discriminator zero), and a passive one stops sending.
func TestDetectionForgetsRemote(t *testing.T) {
	passive := fast
	passive.Passive = true
	a, _ := upPair(t, passive, fast)
	a.Expire(t0.Add(time.Second))
	if p := a.Packet(false); p.YourDiscr != 0 {
		t.Errorf("after a timeout a still names the remote system: %+v", p)
	}
	if _, ok := a.TxInterval(); ok {
		t.Error("a passive session sends after the remote system went silent")
	}
}

func TestPassiveWaitsToBeSpokenTo(t *testing.T) {
	passive := fast
	passive.Passive = true
	a, b := NewSession(passive, 1), NewSession(fast, 2)
	if _, ok := a.TxInterval(); ok {
		t.Fatal("a passive session sends before it heard anything")
	}
	deliver(t, b, a, t0)
	if _, ok := a.TxInterval(); !ok {
		t.Fatal("a passive session spoken to does not answer")
	}
}

func TestReceiveRefusesOthersDiscriminator(t *testing.T) {
	a := NewSession(fast, 1)
	_, _, err := a.Receive(ControlPacket{State: StateInit, DetectMult: 3, MyDiscr: 5, YourDiscr: 99}, t0)
	if !errors.Is(err, ErrNotMine) {
		t.Fatalf("error %v, want ErrNotMine", err)
	}
	if a.State() != StateDown {
		t.Errorf("state %v after another session's packet", a.State())
	}
}

func TestPollIsAnsweredWithFinalAlone(t *testing.T) {
	a, b := upPair(t, fast, fast)
	_, final, _ := b.Receive(ControlPacket{State: StateUp, Poll: true, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: time.Second, RequiredMinRx: time.Second}, t0)
	if !final {
		t.Fatal("a Poll did not ask for a Final")
	}
	b.setDesiredTx(50 * time.Millisecond) // b polls too
	if p := b.Packet(true); !p.Final || p.Poll {
		t.Errorf("the Final %+v carries P as well", p)
	}
	if iv, _ := b.TxInterval(); iv != time.Second {
		t.Errorf("b sends every %v after a asked for 1s", iv)
	}
	_ = a
}

func TestJitter(t *testing.T) {
	if lo, hi := NewSession(fast, 1).Jitter(); lo != 0.75 || hi != 1.0 {
		t.Errorf("jitter %v–%v, want 0.75–1", lo, hi)
	}
	one := fast
	one.DetectMult = 1
	if lo, hi := NewSession(one, 1).Jitter(); lo != 0.75 || hi != 0.90 {
		t.Errorf("jitter with multiplier 1: %v–%v, want 0.75–0.90", lo, hi)
	}
}

// TestChangedConfigWaitsForTheRemoteSystem: a running session's slower
// transmit interval and faster receive interval hold only once the remote
// system acknowledged them with a Final (§6.8.3), so neither side takes
// the other for dead meanwhile; the session stays Up throughout.
func TestChangedConfigWaitsForTheRemoteSystem(t *testing.T) {
	a, b := upPair(t, fast, fast)
	a.SetConfig(Config{DesiredMinTx: time.Second, RequiredMinRx: 100 * time.Millisecond, DetectMult: 3})
	if a.State() != StateUp {
		t.Fatalf("a is %v after a new configuration", a.State())
	}
	if p := a.Packet(false); !p.Poll || p.DesiredMinTx != time.Second || p.RequiredMinRx != 100*time.Millisecond {
		t.Fatalf("a's next packet %+v, want a Poll advertising 1s / 100ms", p)
	}
	if iv, _ := a.TxInterval(); iv != 300*time.Millisecond {
		t.Errorf("before the Final a sends every %v, want the old 300ms", iv)
	}
	if d := a.DetectionTime(); d != 900*time.Millisecond {
		t.Errorf("before the Final a detects after %v, want the old 900ms", d)
	}
	deliver(t, a, b, t0) // b answers the Poll with a Final
	if iv, _ := a.TxInterval(); iv != time.Second {
		t.Errorf("after the Final a sends every %v, want 1s", iv)
	}
	if d := a.DetectionTime(); d != 900*time.Millisecond { // b still sends every 300ms
		t.Errorf("after the Final a detects after %v, want 3 × max(100ms, b's 300ms)", d)
	}
	if b.DetectionTime() != 3*time.Second {
		t.Errorf("b detects a after %v, want 3 × a's 1s", b.DetectionTime())
	}
}

func TestAdminDownIsSentAndSticks(t *testing.T) {
	a, b := upPair(t, fast, fast)
	a.AdminDown()
	if p := a.Packet(false); p.State != StateAdminDown || p.Diag != DiagAdminDown {
		t.Fatalf("a's packet %+v", p)
	}
	if tr := deliver(t, a, b, t0); tr.To != StateDown || tr.Diag != DiagNeighborDown {
		t.Errorf("b after AdminDown: %+v", tr)
	}
	if tr := deliver(t, b, a, t0); tr.Changed() {
		t.Errorf("an AdminDown session changed on a packet: %+v", tr)
	}
}
