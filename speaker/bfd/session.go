package bfd

import (
	"errors"
	"time"
)

// Config is one session's parameters: what a BFDProfile sets.
type Config struct {
	// DesiredMinTx is how often this system wants to send once the
	// session is Up (transmitInterval).
	DesiredMinTx time.Duration
	// RequiredMinRx is the shortest interval between received packets this
	// system accepts (receiveInterval).
	RequiredMinRx time.Duration
	// DetectMult is how many intervals without a packet make the remote
	// system dead (detectMultiplier).
	DetectMult uint8
	// Passive: send nothing until the remote system has spoken
	// (passiveMode; RFC 5880 §6.1's passive role).
	Passive bool
}

// SlowTx is the transmit interval while a session is not Up: RFC 5880
// §6.8.3 requires at least one second.
const SlowTx = time.Second

// Session is one BFD session's state machine (RFC 5880 §6.8): it takes
// received packets and the time, and says what to send and when the
// remote system is dead. It does no I/O and reads no clock; the caller
// serialises calls.
type Session struct {
	cfg   Config
	local uint32 // bfd.LocalDiscr

	state State
	diag  Diag

	remote           uint32 // bfd.RemoteDiscr; 0 until heard, and after a detection timeout
	remoteState      State
	remoteMinRx      time.Duration // bfd.RemoteMinRxInterval
	remoteDesiredTx  time.Duration
	remoteDetectMult uint8

	// desiredTx is bfd.DesiredMinTxInterval as advertised now: SlowTx
	// or more until Up.
	desiredTx time.Duration
	// polling: a Poll Sequence runs (P set in every packet until a packet
	// with F arrives), after an advertised parameter changed.
	polling bool
	// txInUse and rxForDetect are the intervals in force while a Poll
	// Sequence runs (§6.8.3): a slower transmit interval or a faster
	// receive interval takes effect only once the remote system has
	// acknowledged it, so that neither side takes the other for dead
	// meanwhile. Outside a Poll Sequence they equal desiredTx and
	// cfg.RequiredMinRx.
	txInUse     time.Duration
	rxForDetect time.Duration
	lastRx      time.Time
}

// NewSession returns a Down session whose discriminator is local (unique
// among this system's sessions, not zero).
func NewSession(cfg Config, local uint32) *Session {
	tx := max(SlowTx, cfg.DesiredMinTx)
	return &Session{
		cfg: cfg, local: local, state: StateDown,
		remoteMinRx: time.Microsecond, // RFC 5880 §6.8.1's initial value
		desiredTx:   tx, txInUse: tx, rxForDetect: cfg.RequiredMinRx,
	}
}

// SetConfig changes a running session's parameters. What the remote
// system must learn is polled to it (§6.8.3); the session stays as it is.
func (s *Session) SetConfig(c Config) {
	old := s.cfg
	s.cfg = c
	if c.RequiredMinRx != old.RequiredMinRx || c.DetectMult != old.DetectMult {
		// Until acknowledged, detect with the slower of the two receive
		// intervals.
		s.rxForDetect = max(old.RequiredMinRx, c.RequiredMinRx)
		s.polling = true
	}
	if s.state == StateUp {
		s.setDesiredTx(c.DesiredMinTx)
	} else {
		s.setDesiredTx(max(SlowTx, c.DesiredMinTx))
	}
}

// AdminDown takes the session down on purpose (§6.8.16): the packets sent
// from now on tell the remote system so, and nothing it sends changes the
// state again.
func (s *Session) AdminDown() {
	s.state, s.diag = StateAdminDown, DiagAdminDown
}

// Transition is a change of state and why.
type Transition struct {
	From, To State
	Diag     Diag
	// RemoteAdminDown: the remote system took the session down on purpose
	// (it sent AdminDown). RFC 5882 §3.2: not a failure of the path, so
	// the protocols BFD watches over keep going.
	RemoteAdminDown bool
}

// Changed reports whether the state changed.
func (t Transition) Changed() bool { return t.From != t.To }

// ErrNotMine: the packet names another session's discriminator.
var ErrNotMine = errors.New("your discriminator is another session's")

// Receive runs RFC 5880 §6.8.6's reception of a valid packet at now. It
// returns the transition, and whether a packet with Final must be sent at
// once (the remote system polls).
func (s *Session) Receive(p ControlPacket, now time.Time) (t Transition, sendFinal bool, err error) {
	t = Transition{From: s.state, To: s.state}
	if p.YourDiscr != 0 && p.YourDiscr != s.local {
		return t, false, ErrNotMine
	}
	s.remote = p.MyDiscr
	s.remoteState = p.State
	s.remoteMinRx = p.RequiredMinRx
	s.remoteDesiredTx = p.DesiredMinTx
	s.remoteDetectMult = p.DetectMult
	if p.Final && s.polling {
		s.polling = false
		s.txInUse, s.rxForDetect = s.desiredTx, s.cfg.RequiredMinRx
	}
	s.lastRx = now
	if s.state == StateAdminDown {
		return t, false, nil
	}
	switch {
	case p.State == StateAdminDown:
		if s.state != StateDown {
			s.goDown(DiagNeighborDown)
			t.RemoteAdminDown = true
		}
	case s.state == StateDown && p.State == StateDown:
		s.state = StateInit
	case s.state == StateDown && p.State == StateInit, s.state == StateInit && (p.State == StateInit || p.State == StateUp):
		s.goUp()
	case s.state == StateUp && p.State == StateDown:
		s.goDown(DiagNeighborDown)
	}
	t.To, t.Diag = s.state, s.diag
	return t, p.Poll, nil
}

// Expire runs the detection timer at now: a session Init or Up that has
// heard nothing for the detection time goes Down.
func (s *Session) Expire(now time.Time) Transition {
	t := Transition{From: s.state, To: s.state}
	if deadline, ok := s.DetectDeadline(); ok && !now.Before(deadline) {
		s.goDown(DiagDetectTimeExpired)
		// RFC 5880 §6.8.1: forget the remote system after a detection time
		// without a packet.
		s.remote = 0
		s.remoteState = StateDown
		t.To, t.Diag = s.state, s.diag
	}
	return t
}

func (s *Session) goUp() {
	s.state, s.diag = StateUp, DiagNone
	s.setDesiredTx(s.cfg.DesiredMinTx)
}

func (s *Session) goDown(d Diag) {
	s.state, s.diag = StateDown, d
	s.setDesiredTx(max(SlowTx, s.cfg.DesiredMinTx))
}

// setDesiredTx changes the advertised transmit interval and, when it
// changes, starts a Poll Sequence so the remote system adopts it (§6.8.3).
func (s *Session) setDesiredTx(d time.Duration) {
	if d == s.desiredTx {
		return
	}
	// Slower while Up waits for the remote system's acknowledgement;
	// faster, or slower while not Up, holds at once.
	if d < s.txInUse || s.state != StateUp {
		s.txInUse = d
	}
	s.desiredTx = d
	s.polling = true
}

// State is the session's state.
func (s *Session) State() State { return s.state }

// Diag is why the session last went down.
func (s *Session) Diag() Diag { return s.diag }

// DetectionTime is how long without a packet makes the remote system dead
// (asynchronous mode, §6.8.4): its multiplier times the slower of what we
// accept and what it wants to send.
func (s *Session) DetectionTime() time.Duration {
	return time.Duration(s.remoteDetectMult) * max(s.rxForDetect, s.remoteDesiredTx)
}

// DetectDeadline is when the remote system is dead unless a packet comes;
// false while the session is neither Init nor Up.
func (s *Session) DetectDeadline() (time.Time, bool) {
	if (s.state != StateInit && s.state != StateUp) || s.lastRx.IsZero() {
		return time.Time{}, false
	}
	return s.lastRx.Add(s.DetectionTime()), true
}

// TxInterval is the interval between periodic packets before jitter: the
// slower of what we want to send and what the remote system accepts.
// False when nothing is to be sent periodically: passive and not yet
// spoken to, or the remote system asks for no packets (§6.8.7).
func (s *Session) TxInterval() (time.Duration, bool) {
	if (s.cfg.Passive && s.remote == 0) || s.remoteMinRx == 0 {
		return 0, false
	}
	return max(s.txInUse, s.remoteMinRx), true
}

// Jitter is how much of the interval §6.8.7 allows cutting at random:
// 75–100 % of it, 75–90 % with a multiplier of 1.
func (s *Session) Jitter() (least, most float64) {
	if s.cfg.DetectMult == 1 {
		return 0.75, 0.90
	}
	return 0.75, 1.0
}

// Packet is the packet to send now; final answers a Poll. P and F are
// never set together (§6.5): a Final goes without P, and the next
// periodic packet polls again.
func (s *Session) Packet(final bool) ControlPacket {
	return ControlPacket{
		Diag: s.diag, State: s.state,
		Poll: s.polling && !final, Final: final,
		DetectMult: s.cfg.DetectMult, MyDiscr: s.local, YourDiscr: s.remote,
		DesiredMinTx: s.desiredTx, RequiredMinRx: s.cfg.RequiredMinRx,
	}
}
