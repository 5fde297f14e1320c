package timeline

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/vg"
)

func TestReadCSVKeepsOneVIPInTimeOrder(t *testing.T) {
	in := "unix_ms,service,ip,probe,ok,answer,latency_ms\n" +
		"1020,default/svc1,10.0.0.200,http,true,webpod-a,1.00\n" +
		"1000,default/svc1,10.0.0.200,arp,true,aa:aa:aa:aa:aa:aa,0.10\n" +
		"1010,default/svc2,10.0.0.201,arp,false,,20.00\n" +
		"1040,default/svc1,10.0.0.200,arp,false,,20.00\n"
	got, err := ReadCSV(strings.NewReader(in), "10.0.0.200")
	if err != nil {
		t.Fatal(err)
	}
	want := []Probe{
		{At: time.UnixMilli(1000), Kind: "arp", OK: true, Answer: "aa:aa:aa:aa:aa:aa"},
		{At: time.UnixMilli(1020), Kind: "http", OK: true, Answer: "webpod-a"},
		{At: time.UnixMilli(1040), Kind: "arp", OK: false},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d probes, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i].Kind != want[i].Kind || got[i].OK != want[i].OK || got[i].Answer != want[i].Answer {
			t.Errorf("probe %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := ReadCSV(strings.NewReader("h\nx,a,10.0.0.200,arp,true,m,1\n"), "10.0.0.200"); err == nil {
		t.Error("a bad time: no error")
	}
}

// TestWritePNGDrawsEveryKindOfProbe: failed probes and each owner's
// answers appear in their colours.
func TestWritePNGDrawsEveryKindOfProbe(t *testing.T) {
	zero := time.Unix(1000, 0)
	var probes []Probe
	for ms := -300; ms <= 600; ms += 20 {
		at := zero.Add(time.Duration(ms) * time.Millisecond)
		switch {
		case ms < 0:
			probes = append(probes, Probe{At: at, Kind: "arp", OK: true, Answer: "old"}, Probe{At: at, Kind: "http", OK: true, Answer: "pod"})
		case ms < 250:
			probes = append(probes, Probe{At: at, Kind: "arp"}, Probe{At: at, Kind: "http"})
		default:
			probes = append(probes, Probe{At: at, Kind: "arp", OK: true, Answer: "new"}, Probe{At: at, Kind: "http", OK: true, Answer: "pod"})
		}
	}
	in := Input{
		Title: "test", Zero: zero, Probes: probes, From: -300 * time.Millisecond, To: 600 * time.Millisecond,
		Names: map[string]string{"old": "worker", "new": "worker2"},
		Marks: []Mark{{"kill", zero}, {"announced", zero.Add(240 * time.Millisecond)}},
	}
	var b bytes.Buffer
	if err := WritePNG(&b, in, 8*vg.Inch, 3*vg.Inch); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	for name, c := range map[string]color.Color{"failed": failedColor, "old owner": answerColors[0], "new owner": answerColors[1]} {
		if n := countColor(img, c); n < 20 {
			t.Errorf("%s: %d pixels of its colour, want the probes drawn", name, n)
		}
	}
}

func countColor(img image.Image, c color.Color) int {
	wr, wg, wb, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r == wr && g == wg && bl == wb {
				n++
			}
		}
	}
	return n
}
