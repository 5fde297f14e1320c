//go:build e2e

package probe

import (
	"bytes"
	"context"
	"encoding/csv"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/test/netns"
	"github.com/ironlb/ironlb/test/poll"
)

// TestProbeSeesAVIPMove moves a VIP between two hosts with a real gap and
// a gratuitous ARP, as a failover does, and checks the prober saw the old
// owner, then an outage, then the new owner, over ARP and HTTP.
func TestProbeSeesAVIPMove(t *testing.T) {
	lab := netns.New(t)
	client := lab.Host("client", "10.77.0.100/24")
	hosts := map[string]string{"a": lab.Host("a", "10.77.0.2/24"), "b": lab.Host("b", "10.77.0.3/24")}
	const vip = "10.77.0.200"
	for name, ns := range hosts {
		var ln net.Listener
		lab.Do(ns, func() error {
			var err error
			// Bound to any address, so it serves the VIP once the
			// host holds it.
			ln, err = net.Listen("tcp4", ":80")
			return err
		})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("host " + name + "\n"))
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	hold := func(name string) {
		if out, err := lab.Exec(hosts[name], "ip", "addr", "add", vip+"/32", "dev", "eth0"); err != nil {
			t.Fatalf("adding the VIP to %s: %v: %s", name, err, out)
		}
		// Unsolicited ARP, as a new owner sends: the client's neighbour
		// cache follows at once.
		if out, err := lab.Exec(hosts[name], "arping", "-U", "-c", "2", "-w", "1", "-I", "eth0", "-s", vip, vip); err != nil {
			t.Fatalf("gratuitous ARP from %s: %v: %s", name, err, out)
		}
	}
	release := func(name string) {
		if out, err := lab.Exec(hosts[name], "ip", "addr", "del", vip+"/32", "dev", "eth0"); err != nil {
			t.Fatalf("removing the VIP from %s: %v: %s", name, err, out)
		}
	}
	hold("a")

	reg := prometheus.NewRegistry()
	csvPath := filepath.Join(t.TempDir(), "probes.csv")
	out, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Run(ctx, Options{
			NetNS:    "/var/run/netns/" + client,
			Interval: 10 * time.Millisecond,
			Targets: func(context.Context) ([]Target, error) {
				return []Target{{Service: "default/svc1", IP: netip.MustParseAddr(vip), Port: 80}}, nil
			},
			Registerer: reg,
			CSV:        out,
			Log:        testr.New(t),
		})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	defer stop()

	answered := func(kind Kind) float64 {
		return sum(t, reg, "ironlab_probe_requests_total", map[string]string{"probe": string(kind), "result": "ok"})
	}
	waitFor(t, "answers from a", func() bool { return answered(ARP) >= 5 && answered(HTTP) >= 5 })
	release("a")
	// The gap is what the prober must see: nobody holds the VIP.
	time.Sleep(300 * time.Millisecond)
	hold("b")
	// On a loaded machine a late answer is a short outage of its own, so
	// the gap is looked for among all outages, not as the latest one.
	waitFor(t, "an outage of over 0.3 s (the VIP held by nobody) counted over ARP and over HTTP", func() bool {
		return outagesOver(t, reg, ARP, 0.3) >= 1 && outagesOver(t, reg, HTTP, 0.3) >= 1
	})
	stop()
	written, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(written)).ReadAll()
	if err != nil {
		t.Fatalf("reading the CSV: %v", err)
	}
	if len(rows) < 2 || !slices.Equal(rows[0], csvHeader) {
		t.Fatalf("CSV has no header or no rows: %q", written)
	}
	macA, macB := lab.MAC(hosts["a"]).String(), lab.MAC(hosts["b"]).String()
	var arpOwners, pages []string
	for _, r := range rows[1:] {
		if r[4] != "true" {
			continue
		}
		list := &pages
		if r[3] == "arp" {
			list = &arpOwners
		}
		if n := len(*list); n == 0 || (*list)[n-1] != r[5] {
			*list = append(*list, r[5])
		}
	}
	if !slices.Equal(arpOwners, []string{macA, macB}) {
		t.Errorf("ARP answers came from %v, want a (%s) then b (%s)", arpOwners, macA, macB)
	}
	// HTTP probes finish out of order; the CSV keeps finishing order, so
	// compare the set of pages.
	slices.Sort(pages)
	if !slices.Equal(slices.Compact(pages), []string{"host a", "host b"}) {
		t.Errorf("pages %v, want host a and host b", pages)
	}
}

// sum adds the values of a counter's or gauge's series whose labels
// include match.
func sum(t *testing.T, reg *prometheus.Registry, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue series
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// outagesOver counts the outages of kind longer than bound, which must
// be one of outageBuckets.
func outagesOver(t *testing.T, reg *prometheus.Registry, kind Kind, bound float64) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ironlab_probe_outage_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != string(kind) {
				continue
			}
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() == bound {
					return int(h.GetSampleCount() - b.GetCumulativeCount())
				}
			}
			t.Fatalf("%g is not a bucket bound of ironlab_probe_outage_seconds", bound)
		}
	}
	return 0
}

// waitFor polls cond for at most ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.True(t, what, 10*time.Second, 20*time.Millisecond, cond)
}
