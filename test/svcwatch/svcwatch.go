// Package svcwatch follows the load-balancer IPs of a namespace's Services
// as a watch delivers them: when each Service first had an IP, what it
// holds now, every later change, and the two things that must never
// happen (a Service's IP changing once assigned, two Services holding one
// IP). The controller benchmark and the chaos tests read it.
package svcwatch

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Watch is what the watch has delivered so far. Services are keyed
// "namespace/name"; a Service's IPs are its ingress IPs joined by commas.
type Watch struct {
	mu      sync.Mutex
	first   map[string]string    // the first non-empty IPs of each Service
	firstAt map[string]time.Time // and when they arrived
	current map[string]string
	holder  map[string]string // IP → the Service holding it now
	changed map[string]string // Service → "first → later"
	shared  map[string]string // IP → "a and b"
	last    time.Time         // the latest change of any Service's IPs
	log     []Change          // every change after a Service's first IP, in order
}

// Change is a Service's IPs changing after its first assignment.
type Change struct {
	At       time.Time
	Service  string
	From, To string
}

// New returns an empty Watch; feed it with Observe, or use Start.
func New() *Watch {
	return &Watch{first: map[string]string{}, firstAt: map[string]time.Time{}, current: map[string]string{},
		holder: map[string]string{}, changed: map[string]string{}, shared: map[string]string{}}
}

// Start watches the Services of namespace until stop is called, and
// returns once the watch has listed them.
func Start(cs kubernetes.Interface, namespace string) (w *Watch, stop func(), err error) {
	w = New()
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(namespace))
	if _, err := factory.Core().V1().Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: w.Observe, UpdateFunc: func(_, obj any) { w.Observe(obj) },
	}); err != nil {
		return nil, nil, fmt.Errorf("watching the Services of %s: %w", namespace, err)
	}
	done := make(chan struct{})
	factory.Start(done)
	factory.WaitForCacheSync(done)
	var once sync.Once
	return w, func() { once.Do(func() { close(done); factory.Shutdown() }) }, nil
}

// IPs is a Service's ingress IPs joined by commas.
func IPs(s *corev1.Service) string {
	var ips []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	return strings.Join(ips, ",")
}

// Observe takes one delivered Service; other objects are ignored.
func (w *Watch) Observe(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	ips := IPs(svc)
	key := svc.Namespace + "/" + svc.Name
	w.mu.Lock()
	defer w.mu.Unlock()
	old, seen := w.current[key]
	if seen && old == ips {
		return
	}
	w.current[key], w.last = ips, time.Now()
	if _, assigned := w.first[key]; assigned {
		w.log = append(w.log, Change{At: w.last, Service: key, From: old, To: ips})
	}
	for _, ip := range strings.Split(old, ",") {
		if ip != "" && w.holder[ip] == key {
			delete(w.holder, ip)
		}
	}
	for _, ip := range strings.Split(ips, ",") {
		if ip == "" {
			continue
		}
		if other, held := w.holder[ip]; held && other != key {
			w.shared[ip] = other + " and " + key
		}
		w.holder[ip] = key
	}
	first, assigned := w.first[key]
	switch {
	case !assigned && ips != "":
		w.first[key], w.firstAt[key] = ips, w.last
	case assigned && ips != first:
		w.changed[key] = first + " → " + ips
	}
}

// WaitAll waits until n Services have had an IP, and returns when the last
// of them first had one.
func (w *Watch) WaitAll(n int, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		w.mu.Lock()
		got := len(w.first)
		var last time.Time
		for _, at := range w.firstAt {
			if at.After(last) {
				last = at
			}
		}
		w.mu.Unlock()
		if got >= n {
			return last, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("only %d of %d Services had an IP within %s", got, n, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitQuiet waits until no Service's IPs changed for quiet.
func (w *Watch) WaitQuiet(quiet, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		w.mu.Lock()
		since := time.Since(w.last)
		w.mu.Unlock()
		if since >= quiet {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Services' IPs are still changing after %s", limit)
		}
		time.Sleep(min(quiet-since, 100*time.Millisecond))
	}
}

// FirstAt is when the Service first had an IP (zero: not yet).
func (w *Watch) FirstAt(key string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstAt[key]
}

// Earliest is when the first Service got an IP.
func (w *Watch) Earliest() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, at := range w.firstAt {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

// Snapshot is every Service's IPs now.
func (w *Watch) Snapshot() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.current))
	for k, v := range w.current {
		out[k] = v
	}
	return out
}

// Changes describes the changes of the given Services in [from, to].
func (w *Watch) Changes(keys []string, from, to time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.log {
		if slices.Contains(keys, c.Service) && !c.At.Before(from) && !c.At.After(to) {
			out = append(out, fmt.Sprintf("%s %q → %q at +%s", c.Service, c.From, c.To, c.At.Sub(from).Round(time.Millisecond)))
		}
	}
	return out
}

// Violations lists each Service whose IPs changed after its first
// assignment, and each IP two Services held at once.
func (w *Watch) Violations() (changed, shared []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range w.changed {
		changed = append(changed, k+": "+v)
	}
	for ip, v := range w.shared {
		shared = append(shared, ip+": "+v)
	}
	slices.Sort(changed)
	slices.Sort(shared)
	return changed, shared
}

// Duplicates returns every IP more than one Service holds in ips (as
// Snapshot returns them).
func Duplicates(ips map[string]string) []string {
	holders := map[string]int{}
	for _, v := range ips {
		for _, ip := range strings.Split(v, ",") {
			if ip != "" {
				holders[ip]++
			}
		}
	}
	var dups []string
	for ip, n := range holders {
		if n > 1 {
			dups = append(dups, ip)
		}
	}
	slices.Sort(dups)
	return dups
}
