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

	"github.com/ironlb/ironlb/test/l2lab"
)

// sweeper asks for many VIPs in turn from the client namespace and records,
// per VIP, who answered and when.
type sweeper struct {
	c     *arp.Client
	mu    sync.Mutex
	last  map[netip.Addr]sample // latest answer per VIP
	first map[netip.Addr]sample // first answer after mark from a MAC other than exclude
	mark  time.Time
	excl  string
	done  chan struct{}
}

func startSweeper(client string) (*sweeper, error) {
	c, err := dialARP(client)
	if err != nil {
		return nil, err
	}
	s := &sweeper{c: c, last: map[netip.Addr]sample{}, first: map[netip.Addr]sample{}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			p, _, err := c.Read()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if p.Operation != arp.OperationReply {
				continue
			}
			now, mac := time.Now(), p.SenderHardwareAddr.String()
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

func (s *sweeper) close() { _ = s.c.Close(); <-s.done }

// sweep sends one request per VIP, spaced so a sweep of n VIPs takes
// about every.
func (s *sweeper) sweep(vips []netip.Addr, every time.Duration) {
	gap := every / time.Duration(max(1, len(vips)))
	for _, ip := range vips {
		_ = s.c.Request(ip)
		time.Sleep(gap)
	}
}

// runMany kills the node owning the most VIPs and reports when its VIPs
// came back, first to last.
func runMany(r *runner, c *l2lab.Cluster, vipStrings []string, sweepEvery time.Duration) {
	s, err := startSweeper(c.Client)
	if err != nil {
		r.Fatalf("starting the sweeper: %v", err)
	}
	defer s.close()
	var vips []netip.Addr
	for _, v := range vipStrings {
		vips = append(vips, netip.MustParseAddr(v))
	}
	// Learn every VIP's owner: sweep until all answered.
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
	victim := c.NodeByMAC(victimMAC)
	mine := owned[victimMAC]
	fmt.Printf("• %d VIPs over %d nodes; killing %s, which owns %d\n", len(vips), len(owned), victim, len(mine))
	s.mu.Lock()
	s.mark, s.excl = time.Now(), victimMAC
	t0 := s.mark
	s.mu.Unlock()
	c.KillNode(victim)
	deadline = time.Now().Add(60 * time.Second)
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
			r.Fatalf("%d of the dead node's VIPs still unanswered after 60s", len(missing))
		}
		s.sweep(missing, sweepEvery)
	}
	var back []time.Duration
	s.mu.Lock()
	for _, ip := range mine {
		back = append(back, s.first[ip].at.Sub(t0))
	}
	s.mu.Unlock()
	slices.Sort(back)
	fmt.Printf("\n%d Services, %d nodes: the %d VIPs of the killed node answered again after: first %s, median %s, last %s\n",
		len(vips), len(c.Nodes), len(back), back[0].Round(time.Millisecond), back[len(back)/2].Round(time.Millisecond), back[len(back)-1].Round(time.Millisecond))
	fmt.Printf("(times from SIGKILL; each VIP is asked for again every ~%s while it is missing)\n", sweepEvery)
}
