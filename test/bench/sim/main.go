package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(2)
	}
}

// options are the command line beside the model's knobs.
type options struct {
	sizes           []int
	timers          []string
	network         string
	exp             Experiment
	validate        bool
	validationKills int
	validationRest  time.Duration
	plot, markdown  string
}

func parse(args []string, stderr io.Writer) (options, *knobFlags, error) {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./test/bench/sim [flags]\n\nSimulates IronLB's L2 failure detection (memberlist + the successor's watch) at each size and prints Markdown tables; see the package doc. Every timer and network parameter is a flag; a preset's values apply unless a flag names another.\n\n")
		fs.PrintDefaults()
	}
	sizes := fs.String("sizes", "3,10,20,30,40,100,300,1000", "comma-separated cluster sizes")
	timers := fs.String("timers", presetToday+","+presetRelaxed+","+presetFast, "comma-separated timer presets to predict with: "+
		presetToday+" (speaker/members.DefaultOptions: probe 1 s, probe timeout 50 ms, gossip 200 ms), "+
		presetRelaxed+" (the same, probe timeout 500 ms; the watch keeps 50 ms), "+
		presetFast+" (probe 100 ms, gossip 20 ms: the defaults until 806b66b), "+
		presetNoWatch+" (fast, watch off, suspicion ×1)")
	network := fs.String("net", netDatacenter, "network preset for the predictions: "+netDatacenter+" or "+netLab)
	kills := fs.Int("kills", 200, "hard kills per size")
	lane := fs.Int("nodes-per-lane", 100, "kills run in parallel lanes, one per this many nodes")
	losses := fs.String("losses", "0,0.01,0.05", "comma-separated packet loss rates of the false-alarm windows (the first also gives the packets at rest)")
	nodeHours := fs.Float64("node-hours", 20, "node-hours of rest simulated per size and loss")
	minWindow := fs.Duration("min-window", time.Minute, "shortest rest window")
	maxWindow := fs.Duration("max-window", time.Hour, "longest rest window")
	seed := fs.Uint64("seed", 1, "random seed: the same seed and flags give the same output")
	validate := fs.Bool("validate", true, "simulate the lab's measurements with the lab preset and print the validation table")
	vKills := fs.Int("validation-kills", 200, "hard kills per validated configuration")
	vRest := fs.Duration("validation-rest", 2*time.Minute, "rest window per validated packet count")
	plot := fs.String("plot", "/tmp/sim.svg", "write the plot (SVG) here; empty: no plot")
	md := fs.String("md", "", "also write the whole report (Markdown) here")
	kf := registerKnobs(fs)
	if err := fs.Parse(args); err != nil {
		return options{}, nil, err
	}
	if fs.NArg() > 0 {
		return options{}, nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := options{network: *network, validate: *validate, validationKills: *vKills, validationRest: *vRest, plot: *plot, markdown: *md,
		exp: Experiment{Kills: *kills, NodesPerLane: *lane, NodeHours: *nodeHours, MinWindow: *minWindow, MaxWindow: *maxWindow, Seed: *seed, FixedVIP: -1}}
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return options{}, nil, fmt.Errorf("-sizes: %q is not a node count of 2 or more", f)
		}
		o.sizes = append(o.sizes, n)
	}
	for _, f := range strings.Split(*losses, ",") {
		l, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || l < 0 || l >= 1 {
			return options{}, nil, fmt.Errorf("-losses: %q is not a probability", f)
		}
		o.exp.Losses = append(o.exp.Losses, l)
	}
	for _, t := range strings.Split(*timers, ",") {
		t = strings.TrimSpace(t)
		if _, err := timerPreset(t); err != nil {
			return options{}, nil, err
		}
		o.timers = append(o.timers, t)
	}
	if _, err := networkPreset(o.network); err != nil {
		return options{}, nil, err
	}
	return o, kf, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, kf, err := parse(args, stderr)
	if err != nil {
		return err
	}
	var report bytes.Buffer
	w := io.MultiWriter(stdout, &report)
	fmt.Fprintf(w, "## Simulated L2 failure detection (`go run ./test/bench/sim`)\n\n")
	fmt.Fprintf(w, "Seed %d; %d hard kills per size (in parallel lanes of one per %d nodes); rest windows of %.0f node-hours per size and loss (between %s and %s simulated); the first loss (%s) gives the packets at rest. Predictions use the `%s` network preset; the validation, the `lab` preset.\n",
		o.exp.Seed, o.exp.Kills, o.exp.NodesPerLane, o.exp.NodeHours, o.exp.MinWindow, o.exp.MaxWindow, percent(o.exp.Losses[0]), o.network)
	var runs []presetRun
	for ti, t := range o.timers {
		p := mustParams(t, o.network)
		kf.apply(&p)
		r := presetRun{timers: t, network: o.network, params: p}
		for _, n := range o.sizes {
			start := time.Now()
			sz := sizeResult{n: n}
			base := o.exp.Seed*1_000_003 + uint64(ti)*10_007 + uint64(n)*101
			sz.failover = runFailover(p, n, o.exp, base)
			for li, loss := range o.exp.Losses {
				sz.rest = append(sz.rest, runRest(p, n, loss, o.exp.window(n), base+uint64(li)+1))
			}
			sz.took = time.Since(start)
			fmt.Fprintf(stderr, "sim: timers %s, %d nodes: %s of the machine's time\n", t, n, sz.took.Round(time.Millisecond))
			r.sizes = append(r.sizes, sz)
		}
		runs = append(runs, r)
		writeRun(w, r, o.exp)
	}
	var vals []validation
	if o.validate {
		start := time.Now()
		vals = validate(o.validationKills, o.validationRest, o.exp.Seed)
		fmt.Fprintf(stderr, "sim: validation: %s of the machine's time\n", time.Since(start).Round(time.Millisecond))
		writeValidation(w, vals)
	}
	if o.plot != "" {
		if err := os.WriteFile(o.plot, []byte(plotSVG(runs, vals)), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nPlot: %s\n", o.plot)
	}
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, report.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
