package controllers

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipam"
)

// poolConfig is one IPAddressPool "p" of the given addresses.
func poolConfig(t *testing.T, addresses ...string) *config.Config {
	t.Helper()
	cfg, _, err := config.Parse(config.Resources{Pools: []v1beta1.IPAddressPool{{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "metallb-system"},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: addresses},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func key(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }

func view(name string) ipam.Service {
	return ipam.Service{Key: "ns/" + name, Namespace: "ns", Families: []ipam.Family{ipam.IPv4}}
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

var poolKey = []types.NamespacedName{{Namespace: "metallb-system", Name: "p"}}

// TestStateDecisions walks one State through the decisions the reconcilers
// ask of it, each step checked against what the reconciler must then do.
func TestStateDecisions(t *testing.T) {
	s := NewState("metallb-system")
	s.Load(Snapshot{Config: poolConfig(t, "10.0.0.1-10.0.0.2")})
	if !s.Loaded() {
		t.Fatal("not loaded after Load")
	}

	steps := []struct {
		name  string
		do    func() any
		check func(t *testing.T, got any)
	}{
		{"a Service gets the first IP", func() any { return s.Decide(key("a"), view("a"), nil) }, func(t *testing.T, got any) {
			d := got.(Decision)
			if !d.Holds || !d.Changed || !slices.Equal(d.IPs, ips("10.0.0.1")) || d.Pool != "p" || d.AllocErr != nil {
				t.Errorf("%+v", d)
			}
			if !slices.Equal(d.DirtyPools, poolKey) {
				t.Errorf("pool status not rewritten: %v", d.DirtyPools)
			}
			if w, ok := s.Desired(key("a")); !ok || !w.announce || !slices.Equal(w.ips, d.IPs) {
				t.Errorf("desired %+v %t", w, ok)
			}
		}},
		{"deciding again changes nothing", func() any { return s.Decide(key("a"), view("a"), nil) }, func(t *testing.T, got any) {
			if d := got.(Decision); d.Changed || len(d.DirtyPools) != 0 || len(d.Retry) != 0 {
				t.Errorf("%+v", d)
			}
		}},
		{"the Event is sent once, after the status is written", func() any {
			w, _ := s.Desired(key("a"))
			return []bool{s.Written(key("a"), w), s.Written(key("a"), w)}
		}, func(t *testing.T, got any) {
			if !slices.Equal(got.([]bool), []bool{true, false}) {
				t.Errorf("announce %v, want once", got)
			}
		}},
		{"b takes the last IP", func() any { return s.Decide(key("b"), view("b"), nil) }, func(t *testing.T, got any) {
			if d := got.(Decision); !slices.Equal(d.IPs, ips("10.0.0.2")) {
				t.Errorf("%+v", d)
			}
		}},
		{"c finds the pool full and waits", func() any { return s.Decide(key("c"), view("c"), nil) }, func(t *testing.T, got any) {
			if d := got.(Decision); d.Holds || d.AllocErr == nil {
				t.Errorf("%+v", d)
			}
		}},
		{"an invalid spec is refused with its reason", func() any { return s.Decide(key("d"), view("d"), errors.New("bad annotation")) }, func(t *testing.T, got any) {
			if d := got.(Decision); d.Holds || d.AllocErr == nil || d.AllocErr.Error() != "bad annotation" {
				t.Errorf("%+v", d)
			}
		}},
		{"a is deleted: c and d are retried", func() any { return s.Release(key("a"), false) }, func(t *testing.T, got any) {
			r := got.(Released)
			slices.SortFunc(r.Retry, func(x, y types.NamespacedName) int { return compareKeys(x, y) })
			if r.Clear || !slices.Equal(r.Retry, []types.NamespacedName{key("c"), key("d")}) || !slices.Equal(r.DirtyPools, poolKey) {
				t.Errorf("%+v", r)
			}
			if _, ok := s.Desired(key("a")); ok {
				t.Error("a deleted Service still has a status to write")
			}
		}},
		{"c now gets a's IP", func() any { return s.Decide(key("c"), view("c"), nil) }, func(t *testing.T, got any) {
			if d := got.(Decision); !slices.Equal(d.IPs, ips("10.0.0.1")) {
				t.Errorf("%+v", d)
			}
		}},
		{"an invalid configuration keeps the last valid one", func() any { return s.ApplyConfig(nil, errors.New("pool overlaps")) }, func(t *testing.T, got any) {
			if a := got.(ConfigApplied); !a.HadConfig || len(a.Retry) != 0 {
				t.Errorf("%+v", a)
			}
			if d := s.Decide(key("c"), view("c"), nil); d.Changed || !slices.Equal(d.IPs, ips("10.0.0.1")) {
				t.Errorf("c after the invalid configuration: %+v", d)
			}
		}},
		{"b's IP leaves every pool: b is retried", func() any { return s.ApplyConfig(poolConfig(t, "10.0.0.1/32"), nil) }, func(t *testing.T, got any) {
			if a := got.(ConfigApplied); !slices.Contains(a.Retry, key("b")) || !slices.Equal(a.DirtyPools, poolKey) {
				t.Errorf("%+v", a)
			}
		}},
		{"b keeps its IP and is warned once", func() any {
			return []Decision{s.Decide(key("b"), view("b"), nil), s.Decide(key("b"), view("b"), nil)}
		}, func(t *testing.T, got any) {
			d := got.([]Decision)
			if !d[0].WarnOrphan || d[1].WarnOrphan || !slices.Equal(d[0].IPs, ips("10.0.0.2")) || d[0].Pool != "" {
				t.Errorf("%+v", d)
			}
		}},
		{"a Service no longer ours is cleared", func() any { return s.Release(key("c"), true) }, func(t *testing.T, got any) {
			if r := got.(Released); !r.Clear {
				t.Errorf("%+v", r)
			}
			if w, ok := s.Desired(key("c")); !ok || !w.clear || len(w.ips) != 0 {
				t.Errorf("desired %+v %t", w, ok)
			}
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) { step.check(t, step.do()) })
	}
}

func compareKeys(a, b types.NamespacedName) int {
	if a.String() < b.String() {
		return -1
	}
	if a.String() > b.String() {
		return 1
	}
	return 0
}

// TestLoadKeepsTheOlderServicesIP: two statuses naming one IP (a restore
// after a split brain) leave it with the first in the snapshot, the oldest;
// a second Load is ignored.
func TestLoadKeepsTheOlderServicesIP(t *testing.T) {
	s := NewState("metallb-system")
	s.Load(Snapshot{Config: poolConfig(t, "10.0.0.1-10.0.0.2"), Services: []RestoredService{
		{View: view("old"), IPs: ips("10.0.0.1")}, {View: view("new"), IPs: ips("10.0.0.1")},
	}})
	s.Load(Snapshot{ConfigErr: errors.New("a later, broken snapshot")})
	if d := s.Decide(key("old"), view("old"), nil); d.Changed || !slices.Equal(d.IPs, ips("10.0.0.1")) {
		t.Errorf("old: %+v", d)
	}
	if d := s.Decide(key("new"), view("new"), nil); !d.Changed || !slices.Equal(d.IPs, ips("10.0.0.2")) {
		t.Errorf("new: %+v", d)
	}
}

// TestPreferDualStackGainsFamilyOnNewRange: a PreferDualStack Service given
// one family is retried when its pool gains the other and then holds both;
// when the new range is taken, the reason is reported once.
func TestPreferDualStackGainsFamilyOnNewRange(t *testing.T) {
	s := NewState("metallb-system")
	s.Load(Snapshot{Config: poolConfig(t, "10.0.0.1-10.0.0.2")})
	dual := func(name string) ipam.Service {
		v := view(name)
		v.Families, v.Stack = []ipam.Family{ipam.IPv4, ipam.IPv6}, ipam.PreferDualStack
		return v
	}
	if d := s.Decide(key("a"), dual("a"), nil); !slices.Equal(d.IPs, ips("10.0.0.1")) || d.AdditionalErr != nil {
		t.Fatalf("before the IPv6 range: %+v", d)
	}
	a := s.ApplyConfig(poolConfig(t, "10.0.0.1-10.0.0.2", "fd00::1/128"), nil)
	if !slices.Contains(a.Retry, key("a")) {
		t.Fatalf("the new IPv6 range does not retry the PreferDualStack Service: %v", a.Retry)
	}
	if d := s.Decide(key("a"), dual("a"), nil); !d.Changed || !slices.Equal(d.IPs, ips("10.0.0.1", "fd00::1")) {
		t.Errorf("after the IPv6 range: %+v, want both families", d)
	}
	if d := s.Decide(key("b"), dual("b"), nil); !slices.Equal(d.IPs, ips("10.0.0.2")) || !errors.Is(d.AdditionalErr, ipam.ErrExhausted) {
		t.Errorf("a second Service with the IPv6 range taken: %+v, want its IPv4 address and ErrExhausted", d)
	}
	if d := s.Decide(key("b"), dual("b"), nil); d.AdditionalErr != nil {
		t.Errorf("the same reason reported again: %v", d.AdditionalErr)
	}
}
