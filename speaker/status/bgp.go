package status

import (
	"context"
	"fmt"
	"github.com/ironlb/ironlb/internal/kube"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/compat"
)

// BGP keeps this node's ServiceBGPStatus objects: one per Service this
// node advertises, listing the peers. Unlike layer 2 every advertising
// node has its own, so a node only ever touches the objects labelled with
// its name. It implements the loop's BGPStatusSink: Advertising and
// NotAdvertising only record and enqueue.
type BGP struct {
	Client    client.Client
	Namespace string
	NodeName  string
	// Owner, when set, owns the objects (the speaker's Pod).
	Owner    client.Object
	Recorder events.EventRecorder

	mu   sync.Mutex
	want map[string][]string // service key → peers; absent: not advertised
	// reqs hands Services to the writer; Fire never blocks the loop.
	reqs kube.Trigger
}

// SetupWithManager registers the reconciler.
func (s *BGP) SetupWithManager(mgr ctrl.Manager) error {
	s.init()
	return s.writer().setup(mgr, "speaker-bgpstatus", &v1beta1.ServiceBGPStatus{}, &s.reqs, s)
}

func (s *BGP) writer() writer {
	return writer{client: s.Client, namespace: s.Namespace, node: s.NodeName, owner: s.Owner, recorder: s.Recorder}
}

func (s *BGP) init() {
	s.want = map[string][]string{}
}

// Advertising records that this node advertises the Service to peers.
func (s *BGP) Advertising(service string, peers []string) {
	s.mu.Lock()
	s.want[service] = slices.Clone(peers)
	s.mu.Unlock()
	s.reqs.Fire(kube.ServiceKey(service))
}

// NotAdvertising records that it no longer does.
func (s *BGP) NotAdvertising(service string) {
	s.mu.Lock()
	delete(s.want, service)
	s.mu.Unlock()
	s.reqs.Fire(kube.ServiceKey(service))
}

// Reconcile writes one Service's status for this node.
func (s *BGP) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	key := req.NamespacedName.String()
	s.mu.Lock()
	peers, advertising := s.want[key]
	s.mu.Unlock()

	var list v1beta1.ServiceBGPStatusList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{
		compat.LabelServiceName: req.Name, compat.LabelServiceNamespace: req.Namespace, compat.LabelAnnounceNode: s.NodeName,
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing ServiceBGPStatus of %s on node %s: %w", key, s.NodeName, err)
	}
	var mine *v1beta1.ServiceBGPStatus
	for i := range list.Items {
		st := &list.Items[i]
		if advertising && mine == nil {
			mine = st
			continue
		}
		if err := s.Client.Delete(ctx, st); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting ServiceBGPStatus %s: %w", st.Name, err)
		}
	}
	if !advertising {
		return ctrl.Result{}, nil
	}
	status := v1beta1.ServiceBGPStatusStatus{Node: s.NodeName, ServiceName: req.Name, ServiceNamespace: req.Namespace, Peers: peers}
	isNew := mine == nil
	if isNew {
		mine = &v1beta1.ServiceBGPStatus{}
	}
	return ctrl.Result{}, s.writer().put(ctx, mine, isNew, "bgp-", "bgp", req.NamespacedName, func() bool {
		if bgpStatusEqual(mine.Status, status) {
			return false
		}
		mine.Status = status
		return true
	})
}

func bgpStatusEqual(a, b v1beta1.ServiceBGPStatusStatus) bool {
	return a.Node == b.Node && a.ServiceName == b.ServiceName && a.ServiceNamespace == b.ServiceNamespace &&
		slices.Equal(a.Peers, b.Peers)
}
