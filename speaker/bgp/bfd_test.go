package bgp

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ironlb/ironlb/speaker/bgpspec"
	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/speaker/bfd"
	"github.com/ironlb/ironlb/test/poll"
)

// The session follows BFD events given to it here directly; the router
// runs no BFD at all, as a router that creates its BFD session only once
// the BGP session is established (FRR's dynamic neighbours) does before
// that. The BFD packets on the wire are proven against FRR in
// speaker/bfd and test/e2e.
func TestSessionFollowsBFD(t *testing.T) {
	const holdLimit = 2 * time.Second
	var mu sync.Mutex
	var told []string
	l := newLab(t, Options{BFDHoldLimit: holdLimit, LinkInterval: 50 * time.Millisecond,
		OnBFDChange: func(peer string, up bool, diag string) {
			mu.Lock()
			defer mu.Unlock()
			told = append(told, map[bool]string{true: "up", false: "down: " + diag}[up])
		}})
	sess := l.session("ibgp", 2, ourASN)
	sess.BFDProfile = "fast"
	sess.BFD = bgpspec.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
	if err := l.speaker.Set(bgpspec.Desired{Sessions: []bgpspec.Session{sess}}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	l.ibgp.expect(l.lo.speakerAddr(), ourASN, "")
	established := func() bool { return l.speaker.Established("ibgp") && l.ibgp.established(l.lo.speakerAddr()) }
	eventually(t, "the session is established while its BFD has never been Up", established)

	l.speaker.mu.Lock()
	peer := l.speaker.sessions["ibgp"].n.BFD.Peer
	l.speaker.mu.Unlock()
	event := func(from, to bfd.State, diag bfd.Diag, adminDown bool) {
		l.speaker.onBFD(bfd.Event{Peer: peer, At: time.Now(),
			Transition: bfd.Transition{From: from, To: to, Diag: diag, RemoteAdminDown: adminDown}})
	}
	// Whether GoBGP is let to connect, read from GoBGP: once enabled, its
	// own idle hold (5 s after a reset) and connect retry decide when the
	// session is back, which this test does not measure.
	enabled := func() bool {
		var up bool
		err := l.speaker.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: l.lo.addr(2).String()}, func(p *api.Peer) {
			up = p.State.AdminState == api.PeerState_UP
		})
		if err != nil {
			t.Fatalf("ListPeer: %v", err)
		}
		return up
	}
	stays := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if !cond() {
				t.Fatalf("%s did not hold for %s", what, d)
			}
		}
	}

	event(bfd.StateDown, bfd.StateInit, bfd.DiagNone, false)
	event(bfd.StateInit, bfd.StateDown, bfd.DiagDetectTimeExpired, false)
	event(bfd.StateUp, bfd.StateDown, bfd.DiagAdminDown, true)
	stays("the session, through BFD that was never Up and the router's AdminDown,", 500*time.Millisecond, established)

	event(bfd.StateDown, bfd.StateUp, bfd.DiagNone, false)
	down := time.Now()
	event(bfd.StateUp, bfd.StateDown, bfd.DiagDetectTimeExpired, false)
	eventually(t, "BFD going down from Up resets the session", func() bool { return !l.ibgp.established(l.lo.speakerAddr()) })
	stays("the session held down", holdLimit-time.Since(down)-200*time.Millisecond, func() bool { return !enabled() })
	eventually(t, "the session let connect after the hold limit, BFD still down", enabled)
	if took := time.Since(down); took < holdLimit {
		t.Errorf("the session was let connect %s after BFD went down, before the %s hold limit", took, holdLimit)
	}
	eventually(t, "the session established again", established)

	event(bfd.StateDown, bfd.StateUp, bfd.DiagNone, false)
	event(bfd.StateUp, bfd.StateDown, bfd.DiagNeighborDown, false)
	eventually(t, "BFD going down resets the session again", func() bool { return !l.ibgp.established(l.lo.speakerAddr()) })
	if enabled() {
		t.Fatal("the session BFD took down is not held")
	}
	event(bfd.StateDown, bfd.StateUp, bfd.DiagNone, false)
	poll.True(t, "BFD Up lets the held session connect at once (within a second, not the hold limit)", time.Second, 10*time.Millisecond, enabled)

	mu.Lock()
	defer mu.Unlock()
	want := []string{"down: control detection time expired", "down: neighbor signaled session down", "up"}
	if len(told) != len(want) {
		t.Fatalf("OnBFDChange told %q, want %q", told, want)
	}
	for i := range want {
		if told[i] != want[i] {
			t.Errorf("OnBFDChange told %q, want %q", told, want)
		}
	}
}
