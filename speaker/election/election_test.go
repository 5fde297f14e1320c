package election

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
)

var seedNodes = []string{"myk8s-control-plane", "myk8s-worker", "myk8s-worker2", "myk8s-worker3"}

// metallbOrder is MetalLB's documented order, computed independently:
// sort by the hex SHA-256 of node + "#" + ip.
func metallbOrder(nodes []string, ip string) []string {
	out := slices.Clone(nodes)
	sort.Slice(out, func(i, j int) bool {
		hi := sha256.Sum256([]byte(out[i] + "#" + ip))
		hj := sha256.Sum256([]byte(out[j] + "#" + ip))
		return hex.EncodeToString(hi[:]) < hex.EncodeToString(hj[:])
	})
	return out
}

func TestRankMatchesMetalLB(t *testing.T) {
	for _, ip := range []string{"172.20.255.200", "172.20.255.201", "172.20.255.202", "fd00::1", "10.0.0.1"} {
		got := Rank(seedNodes, netip.MustParseAddr(ip), nil)
		if want := metallbOrder(seedNodes, ip); !slices.Equal(got, want) {
			t.Errorf("Rank(%s) = %v, MetalLB orders %v", ip, got, want)
		}
		shuffled := slices.Clone(seedNodes)
		slices.Reverse(shuffled)
		if again := Rank(shuffled, netip.MustParseAddr(ip), nil); !slices.Equal(got, again) {
			t.Errorf("Rank(%s) depends on input order: %v vs %v", ip, got, again)
		}
	}
}

func TestRankPreferenceScoresComeFirst(t *testing.T) {
	ip := netip.MustParseAddr("172.20.255.200")
	plain := Rank(seedNodes, ip, nil)
	last := plain[len(plain)-1]
	got := Rank(seedNodes, ip, map[string]int64{last: 10})
	if got[0] != last {
		t.Errorf("the only preferred node %s ranks %v", last, got)
	}
	if !slices.Equal(got[1:], plain[:len(plain)-1]) {
		t.Errorf("the rest lost the hash order: %v vs %v", got[1:], plain)
	}
}

func svc(key, ip string, candidates ...string) Service {
	return Service{Key: key, IP: netip.MustParseAddr(ip), Candidates: candidates}
}

func TestPlanOwnersSuccessorsAndMembership(t *testing.T) {
	p := NewPlan(seedNodes)
	for i, ip := range []string{"172.20.255.200", "172.20.255.201", "172.20.255.202"} {
		key := fmt.Sprintf("default/svc%d", i+1)
		c, changed := p.SetService(svc(key, ip, seedNodes...))
		want := metallbOrder(seedNodes, ip)
		if !changed || c.To != want[0] || c.From != "" {
			t.Errorf("%s: change %+v, want owner %s", key, c, want[0])
		}
		if got := p.Successor(key); got != want[1] {
			t.Errorf("%s: successor %s, want %s", key, got, want[1])
		}
	}
	if _, changed := p.SetService(svc("default/svc1", "172.20.255.200", seedNodes...)); changed {
		t.Error("setting an unchanged Service changed its owner")
	}

	owner := p.Owner("default/svc1")
	owned := p.Owned(owner)
	successors := map[string]string{}
	for _, s := range owned {
		successors[s] = p.Successor(s)
	}
	for _, n := range seedNodes {
		var want []string
		for _, s := range []string{"default/svc1", "default/svc2", "default/svc3"} {
			if p.Successor(s) == n && !slices.Contains(want, p.Owner(s)) {
				want = append(want, p.Owner(s))
			}
		}
		slices.Sort(want)
		if got := p.Predecessors(n); !slices.Equal(got, want) {
			t.Errorf("Predecessors(%s) = %v, want the owners it succeeds %v", n, got, want)
		}
	}
	changes := p.Leave(owner)
	if len(changes) != len(owned) {
		t.Fatalf("Leave(%s) moved %v, want exactly the %d Services it owned", owner, changes, len(owned))
	}
	for _, c := range changes {
		if c.From != owner || c.To != successors[c.Service] {
			t.Errorf("change %+v, want %s → precomputed successor %s", c, owner, successors[c.Service])
		}
	}
	back := p.Join(owner)
	if len(back) != len(owned) {
		t.Errorf("Join(%s) moved back %v, want its %d Services (MetalLB's order: the VIP returns)", owner, back, len(owned))
	}
}

func TestPlanNoCandidateNoOwner(t *testing.T) {
	p := NewPlan(seedNodes)
	if _, changed := p.SetService(svc("ns/local-no-endpoints", "10.0.0.1")); changed || p.Owner("ns/local-no-endpoints") != "" {
		t.Error("a Service without candidates got an owner")
	}
	p.SetService(svc("ns/one", "10.0.0.2", "myk8s-worker"))
	if c := p.Leave("myk8s-worker"); len(c) != 1 || c[0].To != "" {
		t.Errorf("last candidate leaving: %+v, want the Service unowned", c)
	}
	if c, ok := p.RemoveService("ns/one"); ok {
		t.Errorf("removing an unowned Service reported %+v", c)
	}
}

// TestPlanIncrementalEqualsRecomputed replays random membership and Service
// changes; after each, the incrementally kept plan must equal one built
// from scratch from the same inputs, whatever the order of events.
func TestPlanIncrementalEqualsRecomputed(t *testing.T) {
	nodes := []string{"a", "b", "c", "d", "e"}
	for seed := uint64(0); seed < 100; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		p := NewPlan(nodes)
		services := map[string]Service{}
		alive := map[string]bool{}
		for _, n := range nodes {
			alive[n] = true
		}
		for op := 0; op < 300; op++ {
			switch r.IntN(4) {
			case 0:
				p.Leave(nodes[r.IntN(len(nodes))])
			case 1:
				p.Join(nodes[r.IntN(len(nodes))])
			case 2:
				key := fmt.Sprintf("s%d", r.IntN(20))
				var cands []string
				for _, n := range nodes {
					if r.IntN(3) > 0 {
						cands = append(cands, n)
					}
				}
				s := svc(key, fmt.Sprintf("10.0.%d.%d", r.IntN(4), r.IntN(250)), cands...)
				services[key] = s
				p.SetService(s)
			default:
				key := fmt.Sprintf("s%d", r.IntN(20))
				delete(services, key)
				p.RemoveService(key)
			}
			var live []string
			for _, n := range nodes {
				if p.Alive(n) {
					live = append(live, n)
				}
			}
			fresh := NewPlan(live)
			for _, s := range services {
				fresh.SetService(s)
			}
			for key := range services {
				if p.Owner(key) != fresh.Owner(key) {
					t.Fatalf("seed %d op %d: %s owned by %q, recomputed %q", seed, op, key, p.Owner(key), fresh.Owner(key))
				}
			}
			for _, n := range nodes {
				if !slices.Equal(p.Owned(n), fresh.Owned(n)) {
					t.Fatalf("seed %d op %d: %s owns %v, recomputed %v", seed, op, n, p.Owned(n), fresh.Owned(n))
				}
			}
		}
	}
}
