package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client returns a clientset with the cluster's admin credentials.
func (s *State) Client() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.KubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", s.Plan.Name, err)
	}
	cfg.UserAgent = "ironlab"
	cfg.QPS, cfg.Burst = 50, 100
	return kubernetes.NewForConfig(cfg)
}

// pollInterval is how often waits look: short against a 60 s budget, and
// each look is one cheap request.
const pollInterval = 250 * time.Millisecond

func (s *State) waitAPIServer(ctx context.Context, timeout time.Duration) error {
	cs, err := s.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(2 * time.Second).DoRaw(ctx)
		if err == nil {
			return nil
		}
		last = err
		var failed []string // readyz lists every check; "[-]" marks the failing ones
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "[-]") {
				failed = append(failed, l)
			}
		}
		if len(failed) > 0 {
			last = fmt.Errorf("%w: %s", err, strings.Join(failed, "; "))
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("waiting for kube-apiserver: %w", ctx.Err())
			}
			return fmt.Errorf("kube-apiserver not ready within %s (last: %v); see %s", timeout, last,
				filepath.Join(s.nodeDir(s.Plan.ControlPlane().Name), "logs", "kube-apiserver.log"))
		case <-time.After(pollInterval):
		}
	}
}

// waitNodes waits until every planned Node is registered and Ready, and
// does kindnet's and kubeadm's part on the way: each Node gets the pod
// CIDR its CNI config already uses, and the control plane its role label
// (the kubelet may not set node-role labels itself).
func (s *State) waitNodes(ctx context.Context, timeout time.Duration) error {
	cs, err := s.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	patched := map[string]bool{}
	for {
		notReady, err := s.reconcileNodes(ctx, cs, patched)
		if err == nil && len(notReady) == 0 {
			// Pods are refused until the controller manager has made the
			// namespace's default ServiceAccount: a cluster that says it is
			// ready must take `kubectl apply` of a pod at once.
			_, err = cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			if err == nil {
				return nil
			}
			err = fmt.Errorf("no default ServiceAccount yet: %w", err)
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("not Ready: %s", strings.Join(notReady, ", "))
			}
			// A failed create removes the logs with the rest: quote them.
			return fmt.Errorf("nodes not Ready within %s: %w; kubelet logs are in %s%s", timeout, err, filepath.Join(s.Dir, "nodes", "NODE", "logs"), s.kubeletTails(notReady))
		case <-time.After(pollInterval):
		}
	}
}

// kubeletTailLines is how much of each unready node's kubelet log an
// error quotes: the last lines say why it did not register or get Ready.
const kubeletTailLines = 12

// kubeletTails quotes the end of the kubelet log of every node named at
// the start of an entry of notReady ("NAME" or "NAME (why)").
func (s *State) kubeletTails(notReady []string) string {
	var b strings.Builder
	for _, entry := range notReady {
		node, _, _ := strings.Cut(entry, " ")
		data, err := os.ReadFile(s.LogFile(node, "kubelet"))
		if err != nil {
			fmt.Fprintf(&b, "\n--- %s: no kubelet log: %v", node, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "\n--- last lines of %s's kubelet log:\n%s", node, strings.Join(lines[max(0, len(lines)-kubeletTailLines):], "\n"))
	}
	return b.String()
}

func (s *State) reconcileNodes(ctx context.Context, cs kubernetes.Interface, patched map[string]bool) ([]string, error) {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	seen := map[string]*corev1.Node{}
	for i := range list.Items {
		seen[list.Items[i].Name] = &list.Items[i]
	}
	var notReady []string
	for _, n := range s.Plan.Nodes {
		node, ok := seen[n.Name]
		if !ok {
			notReady = append(notReady, n.Name+" (not registered)")
			continue
		}
		if !patched[n.Name] {
			if err := patchNode(ctx, cs, node, n); err != nil {
				return nil, err
			}
			patched[n.Name] = true
		}
		if !IsReady(node) {
			notReady = append(notReady, n.Name)
		}
	}
	return notReady, nil
}

func patchNode(ctx context.Context, cs kubernetes.Interface, node *corev1.Node, n NodePlan) error {
	spec := ""
	if node.Spec.PodCIDR == "" {
		spec = fmt.Sprintf(`,"spec":{"podCIDR":%q,"podCIDRs":[%q]}`, n.PodCIDR, n.PodCIDR)
	}
	labels := ""
	if n.Role == RoleControlPlane {
		labels = `"labels":{"node-role.kubernetes.io/control-plane":""}`
	}
	patch := fmt.Sprintf(`{"metadata":{%s}%s}`, labels, spec)
	if _, err := cs.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling node %s: %w", n.Name, err)
	}
	return nil
}

// IsReady reports the Node's Ready condition.
func IsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// contextName is the cluster's context in a merged kubeconfig, as kind's
// is kind-NAME.
func (s *State) contextName() string { return "ironlab-" + s.Plan.Name }

func defaultKubeconfig() string {
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return filepath.SplitList(env)[0]
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kube", "config")
}

// mergeKubeconfig adds the cluster's context to path and makes it current,
// as `kind create cluster` does.
func (s *State) mergeKubeconfig(path string) error {
	if path == "" {
		path = defaultKubeconfig()
	}
	own, err := clientcmd.LoadFromFile(s.KubeconfigPath())
	if err != nil {
		return err
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, os.ErrNotExist) {
		cfg, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return fmt.Errorf("merging into kubeconfig %s: %w", path, err)
	}
	name := s.contextName()
	if own.Clusters[name] == nil || own.AuthInfos[name] == nil {
		return fmt.Errorf("kubeconfig %s has no context %s", s.KubeconfigPath(), name)
	}
	cfg.Clusters[name] = own.Clusters[name]
	cfg.AuthInfos[name] = own.AuthInfos[name]
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("merging into kubeconfig %s: %w", path, err)
	}
	s.Kubeconfig = path
	return nil
}

// unmergeKubeconfig removes what mergeKubeconfig added.
func (s *State) unmergeKubeconfig() error {
	if s.Kubeconfig == "" {
		return nil
	}
	cfg, err := clientcmd.LoadFromFile(s.Kubeconfig)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", s.Kubeconfig, err)
	}
	name := s.contextName()
	delete(cfg.Clusters, name)
	delete(cfg.AuthInfos, name)
	delete(cfg.Contexts, name)
	if cfg.CurrentContext == name {
		cfg.CurrentContext = ""
	}
	return clientcmd.WriteToFile(*cfg, s.Kubeconfig)
}
