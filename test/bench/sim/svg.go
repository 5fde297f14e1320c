package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The plot: two panels over the node count on a log scale, failover
// (the ARP client's outage, p50 and p99) and packets per node at rest,
// one line per timer preset, the lab's measurements as open markers and
// the targets as dashed lines. Hand-written SVG, no dependency.

const (
	svgWidth, svgHeight = 980, 430
	panelWidth          = 470
	padLeft, padRight   = 62, 18
	padTop, padBottom   = 58, 52
	// The targets.
	targetFailoverP50 = 400 * time.Millisecond // at 1,000 nodes
	targetPackets     = 50.0                   // per node at rest
)

var presetColours = map[string]string{presetToday: "#1f5fa8", presetRelaxed: "#c8372d", presetFast: "#3b8b3b", presetNoWatch: "#8a5a9e"}

func presetColour(timers string) string {
	if c, ok := presetColours[timers]; ok {
		return c
	}
	return "#777"
}

type panel struct {
	x0            float64 // left edge
	xMin, xMax    float64 // nodes
	yMax          float64
	title, yLabel string
	b             *strings.Builder
	entries       []legendEntry
}

func (p *panel) px(n float64) float64 {
	w := float64(panelWidth - padLeft - padRight)
	return p.x0 + padLeft + w*(math.Log10(n)-math.Log10(p.xMin))/(math.Log10(p.xMax)-math.Log10(p.xMin))
}

func (p *panel) py(v float64) float64 {
	h := float64(svgHeight - padTop - padBottom)
	return padTop + h*(1-v/p.yMax)
}

func (p *panel) axes(step float64) {
	b := p.b
	x1, x2 := p.px(p.xMin), p.px(p.xMax)
	y1, y2 := p.py(0), p.py(p.yMax)
	fmt.Fprintf(b, `<text x="%.1f" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", p.x0+padLeft, p.title)
	for v := 0.0; v <= p.yMax+1e-9; v += step {
		y := p.py(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x1, y, x2, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%g</text>`+"\n", x1-5, y+4, v)
	}
	for _, n := range []float64{3, 10, 30, 100, 300, 1000} {
		if n < p.xMin || n > p.xMax {
			continue
		}
		x := p.px(n)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x, y1, x, y2)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%g</text>`+"\n", x, y1+16, n)
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`+"\n", x1, y2, x2-x1, y1-y2)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">nodes (log scale)</text>`+"\n", (x1+x2)/2, y1+36)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" font-size="12" text-anchor="middle">%s</text>`+"\n", p.x0+16, (y1+y2)/2, p.yLabel)
}

func (p *panel) line(pts [][2]float64, colour, dash string, width float64, markers bool) {
	if len(pts) == 0 {
		return
	}
	var d []string
	for _, pt := range pts {
		d = append(d, fmt.Sprintf("%.1f,%.1f", p.px(pt[0]), p.py(min(pt[1], p.yMax))))
	}
	dashAttr := ""
	if dash != "" {
		dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(p.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`+"\n", strings.Join(d, " "), colour, width, dashAttr)
	if markers {
		for _, pt := range pts {
			fmt.Fprintf(p.b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", p.px(pt[0]), p.py(min(pt[1], p.yMax)), colour)
		}
	}
}

func (p *panel) target(v float64, label string) {
	y := p.py(v)
	fmt.Fprintf(p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-width="1.5" stroke-dasharray="7 5"/>`+"\n", p.px(p.xMin), y, p.px(p.xMax), y)
	fmt.Fprintf(p.b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" fill="#333">%s</text>`+"\n", p.px(p.xMax)-4, y-5, label)
}

// legend adds an entry; drawLegend draws them in the panel's lower left
// corner, below every line (failover stays above 100 ms, packets above
// 15 per second).
func (p *panel) legend(colour, dash, label, marker string) {
	p.entries = append(p.entries, legendEntry{colour, dash, label, marker})
}

type legendEntry struct{ colour, dash, label, marker string }

func (p *panel) drawLegend() {
	x := p.px(p.xMin) + 8
	y := p.py(0) - 8 - 14*float64(len(p.entries)-1)
	fmt.Fprintf(p.b, `<rect x="%.1f" y="%.1f" width="250" height="%.1f" fill="white" fill-opacity="0.85"/>`+"\n", x-4, y-12, 14*float64(len(p.entries))+4)
	for _, e := range p.entries {
		if e.marker == "open" {
			fmt.Fprintf(p.b, `<circle cx="%.1f" cy="%.1f" r="4" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n", x+10, y-4, e.colour)
		} else {
			dashAttr := ""
			if e.dash != "" {
				dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, e.dash)
			}
			fmt.Fprintf(p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", x, y-4, x+20, y-4, e.colour, dashAttr)
		}
		fmt.Fprintf(p.b, `<text x="%.1f" y="%.1f" font-size="11">%s</text>`+"\n", x+25, y, e.label)
		y += 14
	}
}

// plotSVG draws the runs and the lab's asserted measurements.
func plotSVG(runs []presetRun, vals []validation) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", svgWidth, svgHeight, svgWidth, svgHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, svgHeight)
	xMin, xMax := 2.5, 1200.0
	maxMs, maxPkts := ms(targetFailoverP50)*1.15, targetPackets*1.3
	for _, r := range runs {
		for _, sz := range r.sizes {
			xMax = max(xMax, float64(sz.n)*1.2)
			maxMs = max(maxMs, ms(quantile(sz.failover.client, 0.99))*1.1)
			if len(sz.rest) > 0 {
				maxPkts = max(maxPkts, sz.rest[0].packetsPerNode()*1.1)
			}
		}
	}
	maxMs = math.Ceil(maxMs/100) * 100
	maxPkts = math.Ceil(maxPkts/20) * 20
	fail := &panel{x0: 0, xMin: xMin, xMax: xMax, yMax: maxMs, title: "Hard kill: the ARP client's outage", yLabel: "ms", b: &b}
	pkts := &panel{x0: panelWidth + 20, xMin: xMin, xMax: xMax, yMax: maxPkts, title: "Packets sent per node at rest (memberlist + watch)", yLabel: "packets/s", b: &b}
	fail.axes(100)
	pkts.axes(math.Max(10, math.Ceil(maxPkts/8/10)*10))
	fail.target(ms(targetFailoverP50), "target: p50 ≤ 400 ms at 1,000 nodes")
	pkts.target(targetPackets, "target: ≤ 50 packets/s per node")
	// The first preset is drawn last, on top, where others coincide
	// with it (the packets of presets that differ only in timeouts).
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		colour := presetColour(r.timers)
		width := 2.0
		if i > 0 {
			width = 1.5
		}
		var p50, p99, pk [][2]float64
		for _, sz := range r.sizes {
			n := float64(sz.n)
			if len(sz.failover.client) > 0 {
				p50 = append(p50, [2]float64{n, ms(quantile(sz.failover.client, 0.5))})
				p99 = append(p99, [2]float64{n, ms(quantile(sz.failover.client, 0.99))})
			}
			if len(sz.rest) > 0 {
				pk = append(pk, [2]float64{n, sz.rest[0].packetsPerNode()})
			}
		}
		fail.line(p50, colour, "", width, true)
		fail.line(p99, colour, "2 3", 1.5, false)
		pkts.line(pk, colour, "", width, true)
	}
	for _, r := range runs {
		colour, name := presetColour(r.timers), fmt.Sprintf("%s timers, %s", r.timers, r.network)
		fail.legend(colour, "", name+": p50", "")
		fail.legend(colour, "2 3", name+": p99", "")
		pkts.legend(colour, "", name, "")
	}
	var labFail, labPkts [][2]float64
	for _, v := range vals {
		if !v.m.asserted || v.m.harness.timers != presetFast || v.m.harness.oneService {
			continue
		}
		switch v.m.kind {
		case figOutageP50:
			labFail = append(labFail, [2]float64{float64(v.m.nodes), v.m.value})
		case figPackets:
			labPkts = append(labPkts, [2]float64{float64(v.m.nodes), v.m.value})
		}
	}
	for _, set := range []struct {
		p     *panel
		pts   [][2]float64
		label string
	}{{fail, labFail, "the lab (2 cores), fast timers: p50 of 5 kills"}, {pkts, labPkts, "the lab (2 cores), fast timers"}} {
		for _, pt := range set.pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4.5" fill="white" stroke="black" stroke-width="1.5"/>`+"\n", set.p.px(pt[0]), set.p.py(pt[1]))
		}
		if len(set.pts) > 0 {
			set.p.legend("black", "", set.label, "open")
		}
	}
	fail.drawLegend()
	pkts.drawLegend()
	b.WriteString("</svg>\n")
	return b.String()
}
