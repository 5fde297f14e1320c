// Package timeline draws one failover as a person would like to see it: a
// client's probes against time (answered by whom, or failed) with the
// moments of the takeover marked — the node killed, its last answer to
// memberlist, its death learned, the new owner elected and announcing.
// Everything drawn comes from recorded data: the prober's CSV and the
// speaker's metrics.
package timeline

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Probe is one probe of the VIP.
type Probe struct {
	At     time.Time
	Kind   string // arp, http
	OK     bool
	Answer string // MAC (arp) or page (http)
}

// Mark is a moment drawn as a vertical line.
type Mark struct {
	Label string
	At    time.Time
}

// Input is one failover.
type Input struct {
	Title string
	// Zero is the origin of the time axis (the kill).
	Zero   time.Time
	Probes []Probe
	Marks  []Mark
	// Names maps an answer (a MAC) to what the legend calls it (a node).
	Names map[string]string
	// From, To bound the time axis, relative to Zero.
	From, To time.Duration
}

// Takeover are the moments of one takeover, as the new owner recorded
// them: the last packet heard from the dead member, its death learned, the
// owners recomputed, the first announcements sent.
type Takeover struct {
	LastContact, Detected, Decided, Announced time.Time
}

// Failover lays out one failover: from 300 ms before the kill (or the
// earliest moment marked) to 400 ms after the new owner announced, its
// moments marked.
func Failover(title string, kill time.Time, probes []Probe, names map[string]string, tk Takeover) Input {
	from := -300 * time.Millisecond
	if !tk.LastContact.IsZero() {
		from = min(from, tk.LastContact.Sub(kill)-100*time.Millisecond)
	}
	return Input{
		Title: title, Zero: kill, Probes: probes, Names: names,
		From: from, To: tk.Announced.Sub(kill) + 400*time.Millisecond,
		Marks: []Mark{
			{Label: "node stopped with SIGKILL", At: kill},
			{Label: "last answer to memberlist", At: tk.LastContact},
			{Label: "declared dead", At: tk.Detected},
			{Label: "new owner elected", At: tk.Decided},
			{Label: "announced", At: tk.Announced},
		},
	}
}

// ReadCSV reads the probes of one VIP from a test/probe CSV.
func ReadCSV(r io.Reader, ip string) ([]Probe, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading the probe CSV: %w", err)
	}
	var out []Probe
	for i, row := range rows {
		if i == 0 || len(row) < 6 || row[2] != ip {
			continue // header, or another VIP
		}
		ms, err := strconv.ParseInt(row[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("probe CSV line %d: time %q: %w", i+1, row[0], err)
		}
		out = append(out, Probe{At: time.UnixMilli(ms), Kind: row[3], OK: row[4] == "true", Answer: row[5]})
	}
	slices.SortFunc(out, func(a, b Probe) int { return a.At.Compare(b.At) })
	return out, nil
}

// rows of the chart, bottom to top.
var rows = []string{"http", "arp"}

var (
	failedColor = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	// httpColor: HTTP answers come from pods, not owners.
	httpColor = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	// answerColors tell owners apart: the old one, the new one, a third.
	answerColors = []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
		color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	}
	markColors = []color.Color{
		color.Black,
		color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
		color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
		color.RGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0xff},
		color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
		color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
		color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
	}
)

// WritePNG draws the failover as a PNG of the given size.
func WritePNG(w io.Writer, in Input, width, height vg.Length) error {
	p := plot.New()
	p.Title.Text = in.Title
	p.X.Label.Text = "ms after the node was stopped (docker stop -s 9)"
	p.X.Min, p.X.Max = ms(in.From), ms(in.To)
	// The probes take the lower half; the legend the upper.
	p.Y.Min, p.Y.Max = -0.6, 2*float64(len(rows))+0.4
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "HTTP"}, {Value: 1, Label: "ARP"}})
	p.Legend.Top = true
	p.Legend.Left = true

	type series struct {
		label string
		xys   plotter.XYs
		style draw.GlyphStyle
	}
	var order []string
	byKey := map[string]*series{}
	add := func(key, label string, style draw.GlyphStyle, x, y float64) {
		s, ok := byKey[key]
		if !ok {
			s = &series{label: label, style: style}
			byKey[key] = s
			order = append(order, key)
		}
		s.xys = append(s.xys, plotter.XY{X: x, Y: y})
	}
	owners := map[string]int{}
	for _, pr := range in.Probes {
		d := pr.At.Sub(in.Zero)
		if d < in.From || d > in.To {
			continue
		}
		y := float64(slices.Index(rows, pr.Kind))
		if y < 0 {
			continue
		}
		x := ms(d)
		if !pr.OK {
			add("failed", "no answer", draw.GlyphStyle{Color: failedColor, Shape: draw.BoxGlyph{}, Radius: vg.Points(2)}, x, y)
			continue
		}
		if pr.Kind == "http" {
			add("http", "HTTP answered", draw.GlyphStyle{Color: httpColor, Shape: draw.CircleGlyph{}, Radius: vg.Points(2)}, x, y)
			continue
		}
		i, seen := owners[pr.Answer]
		if !seen {
			i = len(owners)
			owners[pr.Answer] = i
		}
		name := in.Names[pr.Answer]
		if name == "" {
			name = pr.Answer
		}
		add("arp "+pr.Answer, "ARP answered by "+name,
			draw.GlyphStyle{Color: answerColors[i%len(answerColors)], Shape: draw.CircleGlyph{}, Radius: vg.Points(2)}, x, y)
	}
	for _, k := range order {
		s := byKey[k]
		sc, err := plotter.NewScatter(s.xys)
		if err != nil {
			return err
		}
		sc.GlyphStyle = s.style
		p.Add(sc)
		p.Legend.Add(s.label, sc)
	}
	for i, m := range in.Marks {
		if m.At.IsZero() {
			continue
		}
		x := ms(m.At.Sub(in.Zero))
		line, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
		if err != nil {
			return err
		}
		line.LineStyle.Color = markColors[i%len(markColors)]
		line.LineStyle.Width = vg.Points(1.5)
		line.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (%+.0f ms)", m.Label, x), line)
	}
	wt, err := p.WriterTo(width, height, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
