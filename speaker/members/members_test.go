package members

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
)

func freeUDPAndTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

type running struct {
	m      *Members
	port   int
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, name string, key []byte) *running {
	t.Helper()
	o := DefaultOptions()
	o.NodeName, o.BindAddr, o.BindPort, o.SecretKey, o.Log = name, "127.0.0.1", freeUDPAndTCPPort(t), key, logr.Discard()
	// memberlist's own verdicts are what these tests check, and its LAN
	// defaults take seconds to reach one (a probe a second, 4 s of
	// suspicion): the timers fast failover once needed keep them short.
	o.ProbeInterval, o.GossipInterval = 100*time.Millisecond, 20*time.Millisecond
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{m: m, port: o.BindPort, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Start(ctx) }()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

func (r *running) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// waitAlive waits, at most 10 s, until the member sees exactly want alive.
func waitAlive(t *testing.T, r *running, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.m.Alive()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alive %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// join joins r to the member at peer, retrying a few times: a join races
// the peer's listener coming up, as it does between real speakers.
func join(t *testing.T, r, peer *running) {
	t.Helper()
	var err error
	for range 20 {
		var n int
		if n, err = r.m.Join([]string{peer.addr()}); err == nil && n == 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("joining %s: %v", peer.addr(), err)
}

func TestKeyFromSecretMatchesMetalLB(t *testing.T) {
	// MetalLB keys memberlist with the first 32 bytes of the secret
	// followed by SHA-256 of nothing (e3b0c442...).
	short := KeyFromSecret([]byte("abc"))
	if len(short) != 32 || string(short[:3]) != "abc" || short[3] != 0xe3 || short[4] != 0xb0 {
		t.Errorf("key of a short secret = %x", short)
	}
	long := []byte(strings.Repeat("k", 40))
	if got := KeyFromSecret(long); string(got) != string(long[:32]) {
		t.Errorf("key of a long secret = %q, want its first 32 bytes", got)
	}
}

// TestDetectsCrashAndLeave: three members; one crashes (no goodbye) and
// the others declare it dead; another leaves gracefully and is gone at once.
func TestDetectsCrashAndLeave(t *testing.T) {
	key := KeyFromSecret([]byte("test-secret"))
	a, b, c := start(t, "node-a", key), start(t, "node-b", key), start(t, "node-c", key)
	for _, r := range []*running{b, c} {
		join(t, r, a)
	}
	waitAlive(t, a, "node-a", "node-b", "node-c")
	waitAlive(t, c, "node-a", "node-b", "node-c")
	// a has had an answer from b, so the crash has a last contact.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		a.m.mu.Lock()
		_, acked := a.m.acked["node-b"]
		a.m.mu.Unlock()
		if acked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node-a never had a probe of node-b answered")
		}
	}

	// A crash: memberlist stops without telling anyone.
	b.m.mu.Lock()
	ml := b.m.ml
	b.m.crashed = true
	b.m.mu.Unlock()
	crashed := time.Now()
	if err := ml.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// An answer node-b sent just before it stopped may be read a moment
	// after crashed (a unit run saw 151 µs): the last contact is bounded
	// by the shutdown's end and the loopback's delivery, not by crashed.
	silent := time.Now().Add(10 * time.Millisecond)
	waitAlive(t, a, "node-a", "node-c")
	waitAlive(t, c, "node-a", "node-c")
	t.Logf("crash detected by both within %s (informational; the benchmark measures this)", time.Since(crashed).Round(time.Millisecond))
	evs, err := a.m.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Kind != Left || last.Node != "node-b" || last.At.Before(crashed) || last.Graceful || last.Addr != b.addr() {
		t.Errorf("last event %+v, want node-b (%s) declared dead after the crash", last, b.addr())
	} else if last.LastContact.IsZero() || last.LastContact.After(silent) {
		t.Errorf("last contact %v, want the last answer before the crash at %v", last.LastContact, crashed)
	}

	c.stop()
	waitAlive(t, a, "node-a")
	evs, err = a.m.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Kind != Left || last.Node != "node-c" || !last.Graceful {
		t.Errorf("last event %+v, want node-c's goodbye", last)
	}
}

// TestReachTellsStalledFromDead: a member's port that accepts connections
// (even with its process never reading them) is listening; a closed one
// refuses. An address nobody answers (a link cut) needs a network of its
// own: the layer-2 e2e cuts one.
func TestReachTellsStalledFromDead(t *testing.T) {
	ctx := context.Background()
	stalled, err := net.Listen("tcp", "127.0.0.1:0") // never accepts: the kernel does the handshake
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		addr string
		want Reachability
	}{
		{stalled.Addr().String(), Listening},
		{closedAddr, Refused},
	} {
		start := time.Now()
		if got := Reach(ctx, tc.addr, 50*time.Millisecond); got != tc.want {
			t.Errorf("Reach(%s) = %v, want %v", tc.addr, got, tc.want)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Reach(%s) took %v, bounded by 50ms", tc.addr, took)
		}
	}
}

// TestWrongKeyCannotJoin: two members with key A form a cluster; a member
// with key B, and a memberlist with no key at all, try to join it. Both
// are refused, and neither side's member list changes. Instead of sleeping
// for gossip that could leak, a third member with key A joins afterwards:
// once both original members see it, they have exchanged state since the
// intruders knocked, and the intruders are still absent.
func TestWrongKeyCannotJoin(t *testing.T) {
	keyA := KeyFromSecret([]byte("right"))
	a, b := start(t, "node-a", keyA), start(t, "node-b", keyA)
	join(t, b, a)
	waitAlive(t, a, "node-a", "node-b")
	waitAlive(t, b, "node-a", "node-b")

	intruder := start(t, "intruder", KeyFromSecret([]byte("wrong")))
	for _, target := range []*running{a, b} {
		if n, err := intruder.m.Join([]string{target.addr()}); err == nil || n > 0 {
			t.Errorf("a member with the wrong key joined %s (%d answered, err %v)", target.addr(), n, err)
		}
	}
	plain := plaintextMember(t)
	if n, err := plain.Join([]string{a.addr(), b.addr()}); err == nil || n > 0 {
		t.Errorf("an unencrypted member joined (%d answered, err %v)", n, err)
	}

	c := start(t, "node-c", keyA)
	join(t, c, a)
	waitAlive(t, a, "node-a", "node-b", "node-c")
	waitAlive(t, b, "node-a", "node-b", "node-c")
	if got := intruder.m.Alive(); !slices.Equal(got, []string{"intruder"}) {
		t.Errorf("the wrong-key member sees %v, want only itself", got)
	}
	if n := plain.NumMembers(); n != 1 {
		t.Errorf("the unencrypted member sees %d members, want only itself", n)
	}
}

// plaintextMember is a bare memberlist without a key on loopback.
func plaintextMember(t *testing.T) *memberlist.Memberlist {
	t.Helper()
	c := memberlist.DefaultLANConfig()
	c.Name, c.BindAddr, c.BindPort = "plaintext", "127.0.0.1", freeUDPAndTCPPort(t)
	c.AdvertiseAddr, c.AdvertisePort = c.BindAddr, c.BindPort
	c.TCPTimeout = time.Second
	c.LogOutput = io.Discard
	ml, err := memberlist.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	return ml
}

// TestNewRefusesAMissingKey: a speaker cannot run memberlist unencrypted.
func TestNewRefusesAMissingKey(t *testing.T) {
	for _, key := range [][]byte{nil, []byte("short")} {
		o := DefaultOptions()
		o.NodeName, o.SecretKey = "n", key
		if _, err := New(o); err == nil {
			t.Errorf("New accepted the key %q", key)
		}
	}
}

func TestLoadSecretKeyRefusesMissingOrEmpty(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadSecretKey(dir); err == nil {
		t.Error("a missing key file was accepted")
	}
	if err := writeFile(dir+"/secretkey", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecretKey(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty key: %v", err)
	}
	if err := writeFile(dir+"/secretkey", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadSecretKey(dir); err != nil || len(k) != 32 {
		t.Errorf("a key: %x, %v", k, err)
	}
}

// TestReachAsksAgainAfterItsOwnStall: a silence that took half as long
// again as the timeout or more was not a fair wait (this process stood
// still) and is asked again, at most three times, after which the member
// is unheard; a fair one is believed at once.
func TestReachAsksAgainAfterItsOwnStall(t *testing.T) {
	const timeout = 25 * time.Millisecond
	silent := &net.OpError{Op: "dial", Err: context.DeadlineExceeded}
	for _, tc := range []struct {
		name   string
		waits  []time.Duration // how long each dial appears to take
		last   error           // what the last dial returns
		want   Reachability
		dials  int
		strict bool // ReachStrict's silences (strictSilences)
	}{
		{"two fair silences", []time.Duration{timeout, timeout}, silent, Unreachable, 2, false},
		{"one fair silence, then listening (a busy kernel)", []time.Duration{timeout, time.Millisecond}, nil, Listening, 2, false},
		{"stalled, then listening", []time.Duration{3 * timeout, time.Millisecond}, nil, Listening, 2, false},
		{"stalled, then refused", []time.Duration{2 * timeout, time.Millisecond}, syscall.ECONNREFUSED, Refused, 2, false},
		{"a little late, then two fair", []time.Duration{timeout * 3 / 2, timeout, timeout}, silent, Unreachable, 3, false},
		{"fair, stalled, fair", []time.Duration{timeout, 3 * timeout, timeout}, silent, Unreachable, 3, false},
		{"stalled every time", []time.Duration{3 * timeout, 3 * timeout, 3 * timeout, 3 * timeout}, silent, Unheard, 4, false},
		{"one fair silence, stalled after", []time.Duration{timeout, 3 * timeout, 3 * timeout, 3 * timeout}, silent, Unheard, 4, false},
		{"strict: two fair silences are not enough", []time.Duration{timeout, timeout, time.Millisecond}, nil, Listening, 3, true},
		{"strict: three fair silences", []time.Duration{timeout, timeout, timeout}, silent, Unreachable, 3, true},
		{"strict: stalled every time", []time.Duration{3 * timeout, 3 * timeout, 3 * timeout, 3 * timeout, 3 * timeout}, silent, Unheard, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Unix(0, 0)
			dials := 0
			dial := func(context.Context, string, string) (net.Conn, error) {
				clock = clock.Add(tc.waits[dials])
				dials++
				if dials < len(tc.waits) {
					return nil, silent
				}
				if tc.last == nil {
					a, b := net.Pipe()
					b.Close()
					return a, nil
				}
				return nil, tc.last
			}
			silences := fairSilences
			if tc.strict {
				silences = strictSilences
			}
			got := reach(context.Background(), "192.0.2.1:7946", timeout, silences, dial, func() time.Time { return clock })
			if got != tc.want || dials != tc.dials {
				t.Errorf("reach = %v after %d dials, want %v after %d", got, dials, tc.want, tc.dials)
			}
		})
	}
}

// TestPingEchoesMembersThatSayTheyCan: a member's metadata says it answers
// echoes, and Ping echoes it; a member whose metadata does not (an
// earlier IronLB during a rolling upgrade) is pinged through memberlist
// and answers too; a crashed member's Ping fails within the probe
// timeout.
func TestPingEchoesMembersThatSayTheyCan(t *testing.T) {
	key := KeyFromSecret([]byte("test-secret"))
	a, b := start(t, "node-a", key), start(t, "node-b", key)
	join(t, b, a)
	waitAlive(t, a, "node-a", "node-b")
	a.m.mu.Lock()
	echoes := a.m.echoes["node-b"]
	a.m.mu.Unlock()
	if !echoes {
		t.Fatal("node-b's metadata does not say it answers echoes")
	}
	answered(t, a, "node-b", "echo")
	// As if node-b's metadata had never said so.
	(*eventDelegate)(a.m).NotifyUpdate(&memberlist.Node{Name: "node-b"})
	a.m.mu.Lock()
	echoes = a.m.echoes["node-b"]
	a.m.mu.Unlock()
	if echoes {
		t.Fatal("an update without the echo metadata left node-b echoed")
	}
	answered(t, a, "node-b", "memberlist ping")
	(*eventDelegate)(a.m).NotifyUpdate(&memberlist.Node{Name: "node-b", Meta: []byte(echoMeta)})

	b.m.mu.Lock()
	ml := b.m.ml
	b.m.crashed = true
	b.m.mu.Unlock()
	if err := ml.Shutdown(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := a.m.Ping("node-b"); err == nil {
		t.Error("a crashed member answered")
	} else if took := time.Since(start); took > 10*DefaultOptions().ProbeTimeout {
		t.Errorf("the failed Ping took %v", took)
	}
}

// answered waits until r's Ping of node is answered: a member just joined
// may be suspected once by memberlist's fast test timers (a -race run saw
// it), which a second ask outlives.
func answered(t *testing.T, r *running, node, how string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var took time.Duration
		if took, err = r.m.Ping(node); err == nil && took > 0 {
			return
		}
	}
	t.Fatalf("%s of %s never answered: %v", how, node, err)
}
