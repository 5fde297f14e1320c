package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// presetRun is one preset's results over every size.
type presetRun struct {
	timers, network string
	params          Params
	sizes           []sizeResult
}

// rate formats count events over nodeHours as per node-hour; none gives
// the 95 % upper bound instead (three events, Poisson).
func rate(count int, nodeHours float64) string {
	if nodeHours <= 0 {
		return "–"
	}
	if count == 0 {
		return fmt.Sprintf("0 (<%.2g)", 3/nodeHours)
	}
	return fmt.Sprintf("%.2g (%d)", float64(count)/nodeHours, count)
}

func msString(d time.Duration) string { return fmt.Sprintf("%.0f", ms(d)) }

func triple(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", msString(quantile(ds, 0.5)), msString(quantile(ds, 0.99)), msString(quantile(ds, 1)))
}

func percent(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", 100*f), ".0") + " %" }

// writeRun prints one preset's tables.
func writeRun(w io.Writer, r presetRun, e Experiment) {
	base := mustParams(r.timers, r.network)
	fmt.Fprintf(w, "\n### Timers `%s`, network `%s`", r.timers, r.network)
	if d := r.params.describe(base); d != "" {
		fmt.Fprintf(w, " (%s)", d)
	}
	losses := make([]string, len(e.Losses))
	for i, l := range e.Losses {
		losses[i] = percent(l)
	}
	lossHead := strings.Join(losses, " / ")
	fmt.Fprintf(w, "\n\n| nodes | VIPs | hard kill → new owner's first gratuitous ARP, p50 / p99 / max ms | ARP client's outage, p50 / p99 / max ms | kills (no new owner in 10 s) | false takeovers per node-hour, loss %s | false memberlist deaths per node-hour, loss %s | packets/s per node at rest | simulated: kills; each loss window |\n", lossHead, lossHead)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, sz := range r.sizes {
		var takeovers, deaths []string
		var window time.Duration
		for _, rr := range sz.rest {
			takeovers = append(takeovers, rate(rr.falseTakeovers, rr.nodeHours))
			deaths = append(deaths, rate(rr.falseDeaths, rr.nodeHours))
			window = rr.window
		}
		pkts := "–"
		if len(sz.rest) > 0 {
			pkts = fmt.Sprintf("%.1f", sz.rest[0].packetsPerNode())
		}
		f := sz.failover
		fmt.Fprintf(w, "| %d | %d | %s | %s | %d (%d) | %s | %s | %s | %s; %s (%.3g node-hours) |\n",
			sz.n, sz.n*r.params.VIPsPerNode, triple(f.garp), triple(f.client), len(f.garp)+f.noOwner, f.noOwner,
			strings.Join(takeovers, " / "), strings.Join(deaths, " / "), pkts,
			f.simulated.Round(time.Second), window.Round(time.Second), float64(sz.n)*window.Hours())
	}
	fmt.Fprintf(w, "\nPackets per node per second at rest, by what sent them (loss %s, then the total at each loss):\n\n| nodes |", losses[0])
	for _, c := range categoryNames {
		fmt.Fprintf(w, " %s |", c)
	}
	fmt.Fprintf(w, " total, loss %s |\n|---|", lossHead)
	for range categoryNames {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w, "---|")
	for _, sz := range r.sizes {
		if len(sz.rest) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %d |", sz.n)
		for _, v := range sz.rest[0].perNode {
			fmt.Fprintf(w, " %.2f |", v)
		}
		var totals []string
		for _, rr := range sz.rest {
			totals = append(totals, fmt.Sprintf("%.1f", rr.packetsPerNode()))
		}
		fmt.Fprintf(w, " %s |\n", strings.Join(totals, " / "))
	}
	fmt.Fprintf(w, "\nWhat the false alarms start from, per node-hour at loss %s: suspicions of live members (a probe and its indirect probes and TCP ping all failed), and death checks of live members started by the watch (two pings missed):\n\n| nodes | suspicions | watch's checks |\n|---|---|---|\n", lossHead)
	for _, sz := range r.sizes {
		var susp, checks []string
		for _, rr := range sz.rest {
			susp = append(susp, rate(rr.suspicions, rr.nodeHours))
			checks = append(checks, rate(rr.watchChecks, rr.nodeHours))
		}
		fmt.Fprintf(w, "| %d | %s | %s |\n", sz.n, strings.Join(susp, " / "), strings.Join(checks, " / "))
	}
}

// writeValidation prints the validation table.
func writeValidation(w io.Writer, vals []validation) {
	fmt.Fprintf(w, "\n### Validation: the lab preset against the lab (2 cores, a network namespace per speaker)\n\n")
	fmt.Fprintln(w, "| figure | lab, build | nodes | measured | simulated | error | a lab run of that many kills would give (5–95 %) | |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, v := range vals {
		unit := " ms"
		if v.m.kind == figPackets {
			unit = ""
		}
		spread := "–"
		if v.hi > 0 || v.lo != 0 {
			spread = fmt.Sprintf("%.0f–%.0f%s", v.lo, v.hi, unit)
		}
		verdict := "shown"
		switch {
		case v.m.asserted && v.holds():
			verdict = "✓ within 20 %"
		case v.m.asserted:
			verdict = "✗ outside 20 %"
		}
		fmt.Fprintf(w, "| %s | %s, %s | %d | %.0f%s | %.1f%s | %+.0f %% | %s | %s |\n",
			v.m.describe(), v.m.harness.describe(), v.m.build, v.m.nodes, v.m.value, unit, v.simulated, unit, 100*v.relErr(), spread, verdict)
	}
}
