//go:build e2e

package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ironlb/ironlb/test/lab/cluster"
	"image/png"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gonum.org/v1/plot/vg"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/test/frr"
	"github.com/ironlb/ironlb/test/lab/monitoring"
	"github.com/ironlb/ironlb/test/lab/timeline"
	"github.com/ironlb/ironlb/test/probe"
)

// proberPort is where the lab prober serves its metrics, on the client.
const proberPort = 9200

// TestDashboardsAgainstPrometheus installs the chart with Prometheus'
// ServiceAccount authorized, runs the lab prober and Debian's Prometheus
// scraping controller, speakers and prober, kills the node announcing a
// VIP, and then evaluates every query of every shipped dashboard panel and
// every alert (without its threshold) against that Prometheus: each must
// return data, and the takeover the speakers recorded must match the
// outage the client saw.
func TestDashboardsAgainstPrometheus(t *testing.T) {
	ctx := context.Background()
	root := repoRoot(t)
	loadImages(t, ctx)
	if err := poll(2*time.Minute, func() error { return namespaceGone(ctx, releaseNS) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSeedAndRelease(t, root, true) })
	start := time.Now()
	if out, err := helm(t, "install", releaseName, "charts/ironlb", "-n", releaseNS, "--create-namespace", "--wait", "--timeout", "3m",
		"--set", "prometheus.serviceAccount="+monitoring.ServiceAccount, "--set", "prometheus.namespace="+monitoring.Namespace); err != nil {
		t.Fatalf("helm install: %v\n%s\n%s", err, out, workloadStates(ctx))
	}
	if err := poll(2*time.Minute, func() error { return workloadsReady(ctx) }); err != nil {
		t.Fatalf("after helm install: %v", err)
	}
	t.Logf("helm install with Prometheus authorized: Ready in %.1fs", time.Since(start).Seconds())
	token, err := monitoring.Grant(ctx, theLab.cs, releaseNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kubectl("delete", "--ignore-not-found", "--wait=false", "namespace", monitoring.Namespace)
	})
	ips := applySeed(t, ctx, root)
	// An upstream router (FRR) every speaker peers with, so the BGP
	// panels have sessions, updates and prefixes to show.
	router := startRouter(t)

	// The victim: a node announcing one of the seed's VIPs that is
	// neither the control plane (the apiserver and Prometheus run there)
	// nor the leading controller's (its series would go with it).
	victimSvc, victim := pickVictim(t, ctx, ips)
	vip := ips[victimSvc]
	service := "default/" + victimSvc
	t.Logf("failover of %s (%s): killing %s", victimSvc, vip, victim)

	// The prober, in a client namespace, every 20 ms per VIP.
	nsPath := clientNetns(t)
	reg := prometheus.NewRegistry()
	csvPath := filepath.Join(t.TempDir(), "probes.csv")
	csvFile, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopProber := context.WithCancel(ctx)
	var probers sync.WaitGroup
	probers.Go(func() {
		err := probe.Run(pctx, probe.Options{NetNS: nsPath, Targets: probe.ServiceTargets(theLab.cs), Registerer: reg, CSV: csvFile, Log: testr.New(t).V(1)})
		if err != nil {
			t.Errorf("prober: %v", err)
		}
	})
	probers.Go(func() {
		if err := probe.ServeMetrics(pctx, nsPath, fmt.Sprintf("%s:%d", chartClientIP, proberPort), reg); err != nil {
			t.Errorf("prober metrics: %v", err)
		}
	})
	proberStopped := false
	stopProbing := func() {
		if !proberStopped {
			proberStopped = true
			stopProber()
			probers.Wait()
			_ = csvFile.Close()
		}
	}
	t.Cleanup(stopProbing)

	prom, err := monitoring.Start(ctx, theLab.st, theLab.cs, monitoring.Options{
		Token: token, IronLBNamespace: releaseNS,
		Probers:   []string{fmt.Sprintf("%s:%d", chartClientIP, proberPort)},
		RuleFiles: []string{filepath.Join(root, "charts", "ironlb", "rules", "ironlb.rules.yaml")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := prom.Stop(); err != nil {
			t.Logf("stopping prometheus: %v", err)
		}
	})
	want := 2 + len(theLab.st.Plan.Nodes) + 1 + 1 // two controllers, speakers, prober, DaemonSet series
	if err := poll(time.Minute, func() error { return prom.TargetsUp(ctx, want) }); err != nil {
		t.Fatalf("prometheus targets: %v (log %s)", err, prom.LogFile())
	}
	t.Logf("prometheus at %s scrapes %d targets", prom.URL, want)
	upQuery := fmt.Sprintf(`min(ironlab_probe_up{ip=%q})`, vip)
	if err := poll(time.Minute, func() error { return hasValue(ctx, prom, upQuery, 1) }); err != nil {
		t.Fatalf("prober before the failover: %v", err)
	}
	var before monitoring.PhaseSums
	if err := poll(30*time.Second, func() error {
		var err error
		before, err = prom.Phases(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	victimMAC := nodeMAC(t, victim)
	kill := time.Now()
	if err := theLab.st.StopNode(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	started := false
	restart := func() {
		if started {
			return
		}
		started = true
		if err := theLab.st.StartNode(victim); err != nil {
			t.Errorf("starting %s again: %v", victim, err)
			return
		}
		// The tests after this one find the whole cluster: the Node Ready
		// again (the node controller may have marked it NotReady while it
		// was down, and the kubelet says otherwise only at its next status
		// update), not only its pods.
		if err := poll(2*time.Minute, func() error {
			n, err := theLab.cs.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !cluster.IsReady(n) {
				return fmt.Errorf("node %s not Ready", victim)
			}
			return workloadsReady(ctx)
		}); err != nil {
			t.Errorf("after starting %s again: %v", victim, err)
		}
	}
	t.Cleanup(restart)

	// The failover, as the new owner's metrics and the client see it.
	var tk monitoring.Takeover
	if err := poll(time.Minute, func() error {
		var err error
		tk, err = prom.LastTakeover(ctx, service, before)
		return err
	}); err != nil {
		t.Fatalf("takeover of %s in prometheus: %v", service, err)
	}
	outageQuery := fmt.Sprintf(`ironlab_probe_last_outage_seconds{ip=%q,probe="arp"}`, vip)
	endQuery := fmt.Sprintf(`ironlab_probe_last_outage_end_timestamp_seconds{ip=%q,probe="arp"}`, vip)
	var outage time.Duration
	var outageEnd time.Time
	if err := poll(time.Minute, func() error {
		// The end before and after the length: both from one outage.
		end, err := scalar(ctx, prom, endQuery)
		if err != nil {
			return err
		}
		v, err := scalar(ctx, prom, outageQuery)
		if err != nil {
			return err
		}
		if again, err := scalar(ctx, prom, endQuery); err != nil || again != end {
			return fmt.Errorf("the prober's last outage changed while read (%v)", err)
		}
		outage, outageEnd = time.Duration(v*float64(time.Second)), time.UnixMilli(int64(end*1000))
		// Prometheus may not have scraped the prober since the kill's
		// outage ended (CI read a flap's, ended before the kill).
		if outageEnd.Before(kill) {
			return fmt.Errorf("the prober's last outage in Prometheus ended %v, before the kill", outageEnd)
		}
		return nil
	}); err != nil {
		t.Fatalf("prober's outage: %v", err)
	}
	takeover := tk.Announced.Sub(tk.LastContact)
	t.Logf("takeover by %s: detection %v, decision %v, announce %v (from last contact %v: %v); client ARP outage %v",
		tk.Pod, tk.Detected.Sub(tk.LastContact).Round(time.Millisecond), tk.Decided.Sub(tk.Detected).Round(time.Millisecond),
		tk.Announced.Sub(tk.Decided).Round(time.Millisecond), tk.LastContact.Sub(kill).Round(time.Millisecond),
		takeover.Round(time.Millisecond), outage.Round(time.Millisecond))
	// A Service announced over BGP and deleted: every speaker withdraws
	// its path, which the withdraw-latency panel shows.
	withdrawOnce(t, ctx, router)

	// Every panel and every alert returns data.
	for _, q := range shippedQueries(t, root) {
		var shown string
		err := poll(30*time.Second, func() error {
			v, err := prom.Query(ctx, q.Expr)
			if err != nil {
				return err
			}
			if shown, err = summary(v); err != nil {
				return err
			}
			for panel, check := range failoverPanels {
				if strings.HasSuffix(q.Where, panel) {
					if err := check(v.(model.Vector), service); err != nil {
						return fmt.Errorf("does not show the failover: %w (%s)", err, shown)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %s: %v", q.Where, q.Expr, err)
			continue
		}
		t.Logf("%s: %s", q.Where, shown)
	}

	// The picture of this failover.
	stopProbing()
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	probes, err := timeline.ReadCSV(f, vip)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The outage compared above must be this kill's: from the prober's own
	// log, its last ARP answer from the victim before the kill and its
	// first from another node after it.
	var lastOld, firstNew time.Time
	for _, p := range probes {
		switch {
		case p.Kind != "arp" || !p.OK:
		case p.At.Before(kill) && strings.EqualFold(p.Answer, victimMAC):
			lastOld = p.At
		case !p.At.Before(kill) && !strings.EqualFold(p.Answer, victimMAC) && firstNew.IsZero():
			firstNew = p.At
		}
	}
	// Under the lab's load the VIP may go unanswered again after the
	// takeover (a false suspicion that moves it once more, issue 20, or a
	// stall of the whole lab): the gauge then holds that later outage, and
	// only the log still tells the kill's. The gauge's end says which: the
	// kill's outage ends at the new owner's first answer, the very probe
	// the log names firstNew (both carry its start, to the millisecond),
	// while a later one ends at least an interval after it. (CI saw a
	// 37 ms flap ending 37 ms after firstNew, which a bound of two
	// intervals took for the kill's.)
	killOutage := outage
	switch {
	case lastOld.IsZero() || firstNew.IsZero():
		t.Errorf("the probe log has no answer from %s before the kill (%v) or from another node after it (%v)", victim, lastOld, firstNew)
	case outageEnd.After(firstNew.Add(probe.DefaultInterval / 2)):
		killOutage = firstNew.Sub(lastOld)
		t.Logf("the kill's outage from the probe log: %v; the prober's gauge (%v) holds a later outage, which ended %v after the takeover",
			killOutage.Round(time.Millisecond), outage.Round(time.Millisecond), outageEnd.Sub(firstNew).Round(time.Millisecond))
	case (firstNew.Sub(lastOld) - outage).Abs() > 2*probe.DefaultInterval:
		t.Errorf("the prober's last outage (%v, ended %v) is not the kill's (%v, from its log, ended %v)", outage, outageEnd, firstNew.Sub(lastOld), firstNew)
	default:
		killOutage = firstNew.Sub(lastOld)
		t.Logf("the kill's outage from the probe log: %v (the prober's gauge: %v)", killOutage.Round(time.Millisecond), outage.Round(time.Millisecond))
	}
	// The speaker's clock starts at the dead member's last answer to its
	// own memberlist probes, before the kill; the client's at its last
	// ARP answer, within a probe interval of the kill. A node probes the
	// others in a shuffled round, so two probes of one member are at
	// most 2(n-1)-1 intervals of 100 ms apart (500 ms with 4 speakers):
	// the takeover may exceed the client's outage by that and a probe's
	// 50 ms timeout, and fall short of it by the client's probe interval
	// and a reply's way back. The bound allows two rounds, for a loaded
	// lab. (CI twice saw takeovers of 608 and 701 ms against "outages" of
	// 41 and 47 ms: the gauge held a later flap's outage, which the probe
	// log now tells apart from the kill's.)
	spacing := time.Duration(2*(len(theLab.st.Plan.Nodes)-1)-1) * 100 * time.Millisecond
	if takeover < killOutage-100*time.Millisecond || takeover > killOutage+2*spacing+150*time.Millisecond {
		t.Errorf("takeover latency %v recorded by the speaker does not match the client's outage %v", takeover, killOutage)
	}

	var b bytes.Buffer
	in := timeline.Failover(fmt.Sprintf("%s (%s): %s killed", victimSvc, vip, victim), kill, probes, macNames(t), tk.Takeover)
	if err := timeline.WritePNG(&b, in, 10*vg.Inch, 5*vg.Inch); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatalf("timeline: %v", err)
	}
	if dir := os.Getenv("IRONLB_E2E_ARTIFACTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "failover-timeline.png"), b.Bytes(), 0o644); err != nil {
			t.Error(err)
		}
	}
	restart()
}

// The lab's upstream router: a client namespace running FRR, AS
// routerASN, accepting any speaker of the lab network (eBGP, AS nodeASN).
const (
	routerName = "router"
	routerIP   = "172.20.0.102"
	routerASN  = 64500
	nodeASN    = 64512
)

// The peering runs BFD at MetalLB's default profile (300 ms × 3), so the
// dashboards' BFD panels have data, from speakers the chart deployed.
var bgpConfig = fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: upstream, namespace: %[1]s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: upstream, namespace: %[1]s}
spec: {myASN: %[2]d, peerASN: %[3]d, peerAddress: %[4]s, bfdProfile: upstream}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: upstream, namespace: %[1]s}
spec: {ipAddressPools: [my-ippool]}
`, releaseNS, nodeASN, routerASN, routerIP)

// startRouter adds the router and the seed pool's BGP peering, and waits
// for a session from every node.
func startRouter(t *testing.T) *frr.Router {
	t.Helper()
	addClient(t, routerName, routerIP)
	// One neighbour per node; a listen range with BFD is proven by the
	// product module's TestBGP/BFDListenRange.
	var neighbors []frr.Neighbor
	for _, n := range theLab.st.Plan.Nodes {
		neighbors = append(neighbors, frr.Neighbor{Address: n.IP, ASN: nodeASN, BFD: true})
	}
	r := frr.Start(t, routerName, frr.Config{Name: "upstream", ASN: routerASN, RouterID: netip.MustParseAddr(routerIP),
		Neighbors: neighbors, BFD: &frr.BFD{}})
	if out, err := kubectlStdin(bgpConfig, "apply", "-f", "-"); err != nil {
		t.Fatalf("applying the BGP peering: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = kubectlStdin(bgpConfig, "delete", "--ignore-not-found", "-f", "-") })
	if err := poll(time.Minute, func() error {
		up, err := r.Established()
		if err != nil {
			return err
		}
		if len(up) != len(theLab.st.Plan.Nodes) {
			return fmt.Errorf("sessions established from %v, want every node", up)
		}
		return nil
	}); err != nil {
		t.Fatalf("BGP: %v\n%s", err, r.Logs())
	}
	return r
}

// withdrawOnce creates a Service, waits until the router has its route
// from every node, deletes it and waits until the route is gone.
func withdrawOnce(t *testing.T, ctx context.Context, r *frr.Router) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "withdrawn"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "webpod"},
			Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := theLab.cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ip string
	if err := poll(time.Minute, func() error {
		s, err := theLab.cs.CoreV1().Services("default").Get(ctx, "withdrawn", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Status.LoadBalancer.Ingress) == 0 {
			return fmt.Errorf("no IP yet")
		}
		ip = s.Status.LoadBalancer.Ingress[0].IP
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	prefix := netip.PrefixFrom(netip.MustParseAddr(ip), 32)
	if err := poll(time.Minute, func() error {
		peers, err := r.Peers(prefix)
		if err != nil {
			return err
		}
		if len(peers) == 0 {
			return fmt.Errorf("no route to %s on the router", prefix)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := theLab.cs.CoreV1().Services("default").Delete(ctx, "withdrawn", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := poll(time.Minute, func() error {
		peers, err := r.Peers(prefix)
		if err != nil {
			return err
		}
		if len(peers) > 0 {
			return fmt.Errorf("route to %s still from %v", prefix, peers)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// pickVictim returns a seed Service and the node announcing it, the node
// being neither the control plane nor the leading controller's (a standby
// exports no pool series).
func pickVictim(t *testing.T, ctx context.Context, ips map[string]string) (string, string) {
	t.Helper()
	_, leaderNode := controllerLeader(t, ctx)
	avoid := []string{theLab.st.Plan.ControlPlane().Name, leaderNode}
	var owners []string
	for _, svc := range []string{"svc1", "svc2", "svc3"} {
		owner := checkAnnounced(t, ctx, svc, ips[svc])
		if !slices.Contains(avoid, owner) {
			return svc, owner
		}
		owners = append(owners, svc+"@"+owner)
	}
	t.Fatalf("every seed VIP is announced from the control plane or the controller's node (%v): no node to kill", owners)
	return "", ""
}

type shippedQuery struct {
	Where   string   `json:"where"`
	Expr    string   `json:"expr"`
	Alert   bool     `json:"alert"`
	Metrics []string `json:"metrics"`
}

// shippedQueries are the chart's dashboard and alert queries, as
// test/dashboards (which has the PromQL parser) makes them evaluable.
func shippedQueries(t *testing.T, root string) []shippedQuery {
	t.Helper()
	cmd := exec.Command("go", "run", "./cmd/queries", "--chart", filepath.Join(root, "charts", "ironlb"))
	cmd.Dir = filepath.Join(root, "test", "dashboards")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("listing the dashboards' queries: %v\n%s", err, stderr.String())
	}
	var qs []shippedQuery
	if err := json.Unmarshal(out, &qs); err != nil {
		t.Fatal(err)
	}
	if len(qs) < 20 {
		t.Fatalf("only %d queries listed", len(qs))
	}
	return qs
}

// failoverPanels must show the failover of service that just happened.
var failoverPanels = map[string]func(v model.Vector, service string) error{
	`panel "Failovers"`: func(v model.Vector, _ string) error {
		if len(v) != 1 || v[0].Value < 1 {
			return fmt.Errorf("want at least 1 failover")
		}
		return nil
	},
	`panel "Ownership changes"`: func(v model.Vector, service string) error {
		for _, s := range v {
			if string(s.Metric["service"]) == service && s.Value > 0 {
				return nil
			}
		}
		return fmt.Errorf("no change of owner for %s", service)
	},
	`panel "Time since last failover per Service"`: func(v model.Vector, service string) error {
		for _, s := range v {
			if string(s.Metric["service"]) == service {
				return nil
			}
		}
		return fmt.Errorf("no failover of %s", service)
	},
}

// summary describes a query's result briefly, or fails if it is empty or
// holds a NaN (a panel would show nothing).
func summary(v model.Value) (string, error) {
	switch r := v.(type) {
	case model.Vector:
		if len(r) == 0 {
			return "", fmt.Errorf("no data")
		}
		parts := make([]string, 0, len(r))
		for _, s := range r {
			if math.IsNaN(float64(s.Value)) {
				return "", fmt.Errorf("NaN for %s", s.Metric)
			}
			parts = append(parts, fmt.Sprintf("%s=%.4g", s.Metric, float64(s.Value)))
		}
		slices.Sort(parts)
		if len(parts) > 4 {
			parts = append(parts[:4], fmt.Sprintf("… %d series", len(r)))
		}
		return strings.Join(parts, " "), nil
	case *model.Scalar:
		return fmt.Sprintf("%.4g", float64(r.Value)), nil
	default:
		return "", fmt.Errorf("unexpected result type %s", v.Type())
	}
}

func scalar(ctx context.Context, prom *monitoring.Prometheus, q string) (float64, error) {
	v, err := prom.Query(ctx, q)
	if err != nil {
		return 0, err
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 {
		return 0, fmt.Errorf("%s: want one series, got %v", q, v)
	}
	return float64(vec[0].Value), nil
}

func hasValue(ctx context.Context, prom *monitoring.Prometheus, q string, want float64) error {
	got, err := scalar(ctx, prom, q)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s = %v, want %v", q, got, want)
	}
	return nil
}

func namespaceGone(ctx context.Context, name string) error {
	_, err := theLab.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("namespace %s still there", name)
}

// macNames names every node's MAC, for the timeline's legend.
func macNames(t *testing.T) map[string]string {
	names := map[string]string{}
	for _, n := range theLab.st.Plan.Nodes {
		names[nodeMAC(t, n.Name)] = n.Name
	}
	return names
}
