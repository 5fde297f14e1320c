//go:build e2e

package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// svcClient is a user creating LoadBalancer Services (selecting the seed's
// webpods) and timing what follows, watched every 50 ms: when each got its
// IP, when its EndpointSlice first had a ready endpoint (kube-controller-
// manager's part: a speaker announces only a Service with one), and when a
// node first answered ARP for it.
type svcClient struct {
	t     *testing.T
	ctx   context.Context
	label string // value of the ironlb-e2e label on its Services

	mu   sync.Mutex
	svcs []*clientService

	stop    context.CancelFunc
	workers sync.WaitGroup
}

// clientService is one Service the client created and what it saw of it.
type clientService struct {
	name                                   string
	created, ip, endpoints, arped, deleted time.Time
	addr                                   string
}

// startSvcClient starts watching; the Services are deleted when the test
// ends.
func startSvcClient(t *testing.T, ctx context.Context, label string) *svcClient {
	wctx, stop := context.WithCancel(ctx)
	c := &svcClient{t: t, ctx: wctx, label: label, stop: stop}
	t.Cleanup(func() {
		c.halt()
		_, _ = kubectl("delete", "svc", "-l", "ironlb-e2e="+label, "--wait=false")
	})
	c.workers.Add(1)
	go c.watch()
	return c
}

// create creates the Service name; false if the apiserver refused.
func (c *svcClient) create(name string) bool {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"ironlb-e2e": c.label}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "webpod"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}},
		},
	}
	cctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	if _, err := theLab.cs.CoreV1().Services("default").Create(cctx, svc, metav1.CreateOptions{}); err != nil {
		return false
	}
	c.mu.Lock()
	c.svcs = append(c.svcs, &clientService{name: name, created: time.Now()})
	c.mu.Unlock()
	return true
}

// remove deletes the oldest Service not deleted yet; false if there is
// none or the apiserver refused.
func (c *svcClient) remove() bool {
	c.mu.Lock()
	i := slices.IndexFunc(c.svcs, func(s *clientService) bool { return s.deleted.IsZero() })
	c.mu.Unlock()
	if i < 0 {
		return false
	}
	c.mu.Lock()
	s := c.svcs[i]
	c.mu.Unlock()
	cctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	if err := theLab.cs.CoreV1().Services("default").Delete(cctx, s.name, metav1.DeleteOptions{}); err != nil {
		return false
	}
	c.mu.Lock()
	s.deleted = time.Now()
	c.mu.Unlock()
	return true
}

func (c *svcClient) watch() {
	defer c.workers.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		list, err := theLab.cs.CoreV1().Services("default").List(c.ctx, metav1.ListOptions{LabelSelector: "ironlb-e2e=" + c.label})
		if err != nil {
			continue
		}
		eps, err := theLab.cs.DiscoveryV1().EndpointSlices("default").List(c.ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		now := time.Now()
		c.mu.Lock()
		for _, es := range eps.Items {
			i := indexService(c.svcs, es.Labels[discoveryv1.LabelServiceName])
			if i < 0 || !c.svcs[i].endpoints.IsZero() {
				continue
			}
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					c.svcs[i].endpoints = now
					break
				}
			}
		}
		for _, item := range list.Items {
			i := indexService(c.svcs, item.Name)
			if i < 0 || len(item.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			s, ip := c.svcs[i], item.Status.LoadBalancer.Ingress[0].IP
			switch {
			case s.addr == "":
				s.addr, s.ip = ip, now
				c.workers.Add(1)
				go func() {
					defer c.workers.Done()
					at := firstARPAnswer(c.ctx, ip)
					c.mu.Lock()
					s.arped = at
					c.mu.Unlock()
				}()
			case s.addr != ip:
				c.t.Errorf("%s: IP changed from %s to %s", s.name, s.addr, ip)
			}
		}
		c.mu.Unlock()
	}
}

func indexService(svcs []*clientService, name string) int {
	return slices.IndexFunc(svcs, func(s *clientService) bool { return s.name == name })
}

// waitAll waits until every Service not deleted has its IP and was
// answered.
func (c *svcClient) waitAll(limit time.Duration) error {
	return poll(limit, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.svcs {
			if s.deleted.IsZero() && (s.ip.IsZero() || s.arped.IsZero()) {
				return fmt.Errorf("%s: IP at %v, answered at %v", s.name, s.ip, s.arped)
			}
		}
		return nil
	})
}

func (c *svcClient) halt() {
	c.stop()
	c.workers.Wait()
}

// table prints every Service's times relative to zero.
func (c *svcClient) table(zero time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	since := func(at time.Time) string {
		if at.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%+.2f s", at.Sub(zero).Seconds())
	}
	rows := []string{"| Service | IP | created | IP seen | endpoint ready | ARP answered | created → IP | deleted |", "|---|---|---|---|---|---|---|---|"}
	for _, s := range c.svcs {
		took := "-"
		if !s.ip.IsZero() {
			took = fmt.Sprintf("%.2f s", s.ip.Sub(s.created).Seconds())
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", s.name, s.addr, since(s.created), since(s.ip), since(s.endpoints), since(s.arped), took, since(s.deleted)))
	}
	return strings.Join(rows, "\n")
}

// services is a copy of what the client saw.
func (c *svcClient) services() []clientService {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]clientService, len(c.svcs))
	for i, s := range c.svcs {
		out[i] = *s
	}
	return out
}

// checkUnique fails the test if two of the client's live Services or one
// of them and one of others hold the same IP.
func checkUnique(t *testing.T, c *svcClient, others map[string]string) {
	t.Helper()
	holder := map[string]string{}
	for svc, ip := range others {
		holder[ip] = svc
	}
	for _, s := range c.services() {
		if s.addr == "" || !s.deleted.IsZero() {
			continue
		}
		if other, dup := holder[s.addr]; dup {
			t.Errorf("%s and %s hold the same IP %s", s.name, other, s.addr)
		}
		holder[s.addr] = s.name
	}
}

// firstARPAnswer asks for ip from the chart's client until a node answers,
// and returns when the answer came (zero if ctx ended first).
func firstARPAnswer(ctx context.Context, ip string) time.Time {
	for ctx.Err() == nil {
		if theLab.st.Command(chartClient, "arping", "-c", "1", "-w", "1", "-I", "eth0", ip).Run() == nil {
			return time.Now()
		}
	}
	return time.Time{}
}
