package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/arp"

	"github.com/ironlb/ironlb/test/bench/benchrun"
	"github.com/ironlb/ironlb/test/l2lab"
	"github.com/ironlb/ironlb/test/netns"
)

// sweeper asks for many VIPs in turn from the client namespace and records,
// per VIP, who answered and when.
type sweeper struct {
	c     *arp.Client
	mu    sync.Mutex
	last  map[netip.Addr]sample // latest answer per VIP
	first map[netip.Addr]sample // first answer after mark from a MAC other than exclude
	// firstAnnounced: first gratuitous ARP after mark from a MAC other
	// than exclude, which is when a client's cache learns the new owner.
	firstAnnounced map[netip.Addr]sample
	mark           time.Time
	excl           string
	// history, while recording, holds every answer and announcement per VIP.
	history   map[netip.Addr][]sample
	recording bool
	done      chan struct{}
	closing   chan struct{} // closed before the socket, so Read errors end the reader
}

func startSweeper(client string) (*sweeper, error) {
	c, err := netns.DialARP(client, "eth0")
	if err != nil {
		return nil, err
	}
	s := &sweeper{c: c, last: map[netip.Addr]sample{}, first: map[netip.Addr]sample{}, firstAnnounced: map[netip.Addr]sample{}, done: make(chan struct{}), closing: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			p, _, err := c.Read()
			if err != nil {
				select {
				case <-s.closing:
					return
				default:
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			now, mac := time.Now(), p.SenderHardwareAddr.String()
			announcement := p.Operation == arp.OperationRequest && p.SenderIP == p.TargetIP
			if s.recording && (announcement || p.Operation == arp.OperationReply) {
				s.mu.Lock()
				s.history[p.SenderIP] = append(s.history[p.SenderIP], sample{at: now, mac: mac})
				s.mu.Unlock()
			}
			if announcement {
				s.mu.Lock()
				if !s.mark.IsZero() && now.After(s.mark) && mac != s.excl {
					if _, seen := s.firstAnnounced[p.SenderIP]; !seen {
						s.firstAnnounced[p.SenderIP] = sample{at: now, mac: mac}
					}
				}
				s.mu.Unlock()
				continue
			}
			if p.Operation != arp.OperationReply {
				continue
			}
			s.mu.Lock()
			s.last[p.SenderIP] = sample{at: now, mac: mac}
			if !s.mark.IsZero() && now.After(s.mark) && mac != s.excl {
				if _, seen := s.first[p.SenderIP]; !seen {
					s.first[p.SenderIP] = sample{at: now, mac: mac}
				}
			}
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// record starts keeping every answer and announcement.
func (s *sweeper) record() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history, s.recording = map[netip.Addr][]sample{}, true
}

// stopRecording returns what was kept since record.
func (s *sweeper) stopRecording() map[netip.Addr][]sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recording = false
	return s.history
}

// sweepVIPs starts a sweeper on the lab's client for the VIPs; close it.
func sweepVIPs(r *benchrun.Runner, c *l2lab.Cluster, vipStrings []string) (*sweeper, []netip.Addr) {
	s, err := startSweeper(c.Client)
	if err != nil {
		r.Fatalf("starting the sweeper: %v", err)
	}
	vips := make([]netip.Addr, 0, len(vipStrings))
	for _, v := range vipStrings {
		vips = append(vips, netip.MustParseAddr(v))
	}
	return s, vips
}

func (s *sweeper) close() { close(s.closing); _ = s.c.Close(); <-s.done }

// sweep sends one request per VIP back to back, then waits every: each
// VIP is asked for once per every plus the time to send the batch
// (microseconds per request). Spacing requests with a sleep each would
// cost a timer tick per VIP and make the sweep, not the failover, the
// slowest part.
func (s *sweeper) sweep(vips []netip.Addr, every time.Duration) {
	for _, ip := range vips {
		_ = s.c.Request(ip)
	}
	time.Sleep(every)
}

// runMany kills, runs times, the node owning the most VIPs and reports
// when each of its VIPs came back, then brings the node back.
func runMany(r *benchrun.Runner, c *l2lab.Cluster, vipStrings []string, runs int, sweepEvery, settle time.Duration) {
	s, vips := sweepVIPs(r, c, vipStrings)
	defer s.close()
	fmt.Printf("• speaker RSS with %d Services: %s\n", len(vips), formatRSS(c.SpeakerRSS()))
	fmt.Printf("\n%d Services, %d nodes; times from SIGKILL of the node owning the most VIPs until each of its VIPs\n\n", len(vips), len(c.Nodes))
	fmt.Printf("| run | killed | its VIPs | first gratuitous ARP: first / median / last | answers a request: first / median / last |\n|---|---|---|---|---|\n")
	var lastAnnounced, lastAnswered []time.Duration
	for i := 1; i <= runs; i++ {
		victimMAC, mine := s.learnOwners(r, vips)
		victim := c.NodeByMAC(victimMAC)
		ann, ans := s.killAndWait(r, c, victimMAC, mine, sweepEvery)
		fmt.Printf("| %d | %s | %d | %s | %s |\n", i, victim, len(mine), spread(ann), spread(ans))
		if len(ann) > 0 {
			lastAnnounced = append(lastAnnounced, ann[len(ann)-1])
		}
		lastAnswered = append(lastAnswered, ans[len(ans)-1])
		c.RestartNode(victim)
		time.Sleep(settle)
	}
	slices.Sort(lastAnnounced)
	slices.Sort(lastAnswered)
	fmt.Printf("\nlast VIP back over %d runs: announced p50 %s, max %s; answering requests p50 %s, max %s\n", runs,
		pick(lastAnnounced, 50), pick(lastAnnounced, 100), pick(lastAnswered, 50), pick(lastAnswered, 100))
	fmt.Printf("• speaker RSS after the runs: %s\n", formatRSS(c.SpeakerRSS()))
}

// learnOwners sweeps until every VIP answered and returns the node owning
// the most, with its VIPs.
func (s *sweeper) learnOwners(r *benchrun.Runner, vips []netip.Addr) (string, []netip.Addr) {
	s.mu.Lock()
	s.last, s.mark = map[netip.Addr]sample{}, time.Time{}
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.sweep(vips, 200*time.Millisecond)
		s.mu.Lock()
		n := len(s.last)
		s.mu.Unlock()
		if n == len(vips) {
			break
		}
		if time.Now().After(deadline) {
			r.Fatalf("only %d of %d VIPs answered", n, len(vips))
		}
	}
	owned := map[string][]netip.Addr{}
	s.mu.Lock()
	for ip, smp := range s.last {
		owned[smp.mac] = append(owned[smp.mac], ip)
	}
	s.mu.Unlock()
	victimMAC := ""
	for mac, ips := range owned {
		if len(ips) > len(owned[victimMAC]) {
			victimMAC = mac
		}
	}
	return victimMAC, owned[victimMAC]
}

// killAndWait kills the node with the MAC and returns, sorted, when each
// of its VIPs was first announced by another node and first answered a
// request from another node.
func (s *sweeper) killAndWait(r *benchrun.Runner, c *l2lab.Cluster, victimMAC string, mine []netip.Addr, sweepEvery time.Duration) (announced, answered []time.Duration) {
	victim := c.NodeByMAC(victimMAC)
	s.mu.Lock()
	s.first, s.firstAnnounced = map[netip.Addr]sample{}, map[netip.Addr]sample{}
	s.mark, s.excl = time.Now(), victimMAC
	t0 := s.mark
	s.mu.Unlock()
	c.KillNode(victim)
	if sweepEvery == 0 {
		// Passive: only listen for the new owners' announcements, so the
		// measurement adds no load (hundreds of broadcast requests every
		// few milliseconds reach every speaker); then ask to confirm.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			s.mu.Lock()
			n := len(s.firstAnnounced)
			s.mu.Unlock()
			if n >= len(mine) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		sweepEvery = 100 * time.Millisecond
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.mu.Lock()
		var missing []netip.Addr
		for _, ip := range mine {
			if _, ok := s.first[ip]; !ok {
				missing = append(missing, ip)
			}
		}
		s.mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.Fatalf("%d of %s's VIPs still unanswered after 60s", len(missing), victim)
		}
		s.sweep(missing, sweepEvery)
	}
	s.mu.Lock()
	for _, ip := range mine {
		answered = append(answered, s.first[ip].at.Sub(t0))
		if a, ok := s.firstAnnounced[ip]; ok {
			announced = append(announced, a.at.Sub(t0))
		}
	}
	s.mu.Unlock()
	slices.Sort(announced)
	slices.Sort(answered)
	return announced, answered
}

// spread formats first / median / last of sorted durations.
func spread(d []time.Duration) string {
	if len(d) == 0 {
		return "none seen"
	}
	return fmt.Sprintf("%s / %s / %s", pick(d, 0), pick(d, 50), pick(d, 100))
}

// pick returns the p-th percentile of sorted durations, rounded.
func pick(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, len(d)*p/100)].Round(time.Millisecond)
}
