// Package status writes what this speaker announces to the API: one
// ServiceL2Status per Service it announces, one ServiceBGPStatus per
// Service it advertises (bgp.go), the nodeAssigned Event on the Service. It runs after the packets, from its own work queue: a slow or
// unreachable apiserver never delays a failover.
package status

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/kube"
)

// L2 keeps this node's ServiceL2Status objects. It implements the loop's
// StatusSink: Announcing and NotAnnouncing only record and enqueue.
type L2 struct {
	Client    client.Client
	Namespace string
	NodeName  string
	// Owner, when set, owns the objects (the speaker's Pod), so they go
	// when the speaker does.
	Owner    client.Object
	Recorder events.EventRecorder

	mu   sync.Mutex
	want map[string][]string // service key → interfaces; absent: not announcing
	// claim holds the Services this node started announcing whose other
	// nodes' statuses are not yet removed. Only a takeover removes them:
	// while a partition makes two nodes announce, each keeps its own
	// status instead of deleting the other's again and again.
	claim map[string]bool
	// failed holds announceFailed Events to send: Service → its IPs.
	failed map[string][]netip.Addr
	// reqs hands Services to the writer; Fire never blocks the loop.
	reqs kube.Trigger
}

// SetupWithManager registers the reconciler.
func (s *L2) SetupWithManager(mgr ctrl.Manager) error {
	s.init()
	return s.writer().setup(mgr, "speaker-l2status", &v1beta1.ServiceL2Status{}, &s.reqs, s)
}

func (s *L2) writer() writer {
	return writer{client: s.Client, namespace: s.Namespace, node: s.NodeName, owner: s.Owner, recorder: s.Recorder}
}

// init makes the maps and the queue; SetupWithManager calls it.
func (s *L2) init() {
	s.want = map[string][]string{}
	s.claim = map[string]bool{}
	s.failed = map[string][]netip.Addr{}
}

// Announcing records that this node announces the Service.
func (s *L2) Announcing(service string, interfaces []string) {
	s.mu.Lock()
	if _, already := s.want[service]; !already {
		s.claim[service] = true
	}
	s.want[service] = slices.Clone(interfaces)
	s.mu.Unlock()
	s.reqs.Fire(kube.ServiceKey(service))
}

// NotAnnouncing records that it no longer does.
func (s *L2) NotAnnouncing(service string) {
	s.mu.Lock()
	delete(s.want, service)
	delete(s.claim, service)
	s.mu.Unlock()
	s.reqs.Fire(kube.ServiceKey(service))
}

// AnnounceFailed records that this node owns the Service but cannot
// announce it: none of the interfaces named for it exists here.
func (s *L2) AnnounceFailed(service string, ips []netip.Addr) {
	s.mu.Lock()
	s.failed[service] = slices.Clone(ips)
	s.mu.Unlock()
	s.reqs.Fire(kube.ServiceKey(service))
}

// Reconcile writes one Service's status for this node.
func (s *L2) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	key := req.NamespacedName.String()
	s.mu.Lock()
	ifaces, announcing := s.want[key]
	claim := s.claim[key]
	failedIPs := s.failed[key]
	delete(s.failed, key)
	s.mu.Unlock()
	for _, ip := range failedIPs {
		s.writer().announceFailed(ctx, req.NamespacedName, ip, "layer2")
	}

	var list v1beta1.ServiceL2StatusList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{
		compat.LabelServiceName: req.Name, compat.LabelServiceNamespace: req.Namespace,
	}); err != nil {
		return ctrl.Result{}, err
	}
	var mine *v1beta1.ServiceL2Status
	for i := range list.Items {
		st := &list.Items[i]
		if st.Labels[compat.LabelAnnounceNode] == s.NodeName && mine == nil && announcing {
			mine = st
			continue
		}
		// Not ours to keep: ours when we stopped (or a second one), or
		// another node's that this node just took over from (a dead node
		// cannot clean up after itself).
		if st.Labels[compat.LabelAnnounceNode] == s.NodeName || claim {
			if err := s.Client.Delete(ctx, st); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting ServiceL2Status %s: %w", st.Name, err)
			}
		}
	}
	if !announcing {
		return ctrl.Result{}, nil
	}
	if claim {
		s.mu.Lock()
		if _, still := s.want[key]; still {
			delete(s.claim, key)
		}
		s.mu.Unlock()
	}
	status := v1beta1.ServiceL2StatusStatus{Node: s.NodeName, ServiceName: req.Name, ServiceNamespace: req.Namespace}
	for _, i := range ifaces {
		status.Interfaces = append(status.Interfaces, v1beta1.InterfaceInfo{Name: i})
	}
	isNew := mine == nil
	if isNew {
		mine = &v1beta1.ServiceL2Status{}
	}
	return ctrl.Result{}, s.writer().put(ctx, mine, isNew, "l2-", "layer2", req.NamespacedName, func() bool {
		if statusEqual(mine.Status, status) {
			return false
		}
		mine.Status = status
		return true
	})
}

func statusEqual(a, b v1beta1.ServiceL2StatusStatus) bool {
	return a.Node == b.Node && a.ServiceName == b.ServiceName && a.ServiceNamespace == b.ServiceNamespace &&
		slices.Equal(a.Interfaces, b.Interfaces)
}
