package main

import (
	"flag"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ironlb/ironlb/speaker/loop"
	"github.com/ironlb/ironlb/speaker/members"
)

// Timers are memberlist's and the speaker's, as speaker/members and
// speaker/loop set them; every one can be changed by a flag of the same
// name (knobs).
type Timers struct {
	// memberlist (speaker/members.DefaultOptions, and memberlist's
	// DefaultLANConfig for what the speaker leaves alone).
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	IndirectChecks          int
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	GossipInterval          time.Duration
	GossipNodes             int
	RetransmitMult          int
	PushPullInterval        time.Duration
	AwarenessMaxMultiplier  int
	GossipToTheDead         time.Duration
	TCPPings                bool // memberlist's TCP ping beside the indirect probes (DisableTcpPings false)
	// MaxPiggyback is how many gossip messages fit in one packet: a
	// suspect or alive message is 60–90 bytes with the lab's node names,
	// memberlist fills a 1,400-byte UDP buffer less its overheads.
	MaxPiggyback int

	// The speaker (speaker/loop, speaker/members).
	Watch            bool          // the successor's watch (watch.go)
	WatchInterval    time.Duration // DefaultWatchInterval
	WatchMisses      int           // DefaultWatchMisses
	WatchRetry       bool          // a missed ping not yet a silence is followed at once by the next (loop.watch, since the thirteenth session)
	WatchPingTimeout time.Duration // the watch's ping waits memberlist's ProbeTimeout today; kept at 50 ms when that grows
	ReachTimeout     time.Duration // members.DefaultReachTimeout
	ReachAttempts    int           // members.reachAttempts
	FairSilences     int           // members.fairSilences
	EarlyReach       bool          // the check's connection made at a watched silence's first miss (loop.reachEarly), wanting one fair silence more (members.ReachStrict)
	StalledHold      time.Duration // loop.DefaultStalledHold; negative: deaths are believed unchecked
	RecheckInterval  time.Duration // loop.recheckInterval
	StrictRechecks   bool          // a held member's rechecks want strictSilences, as the early connection (members.ReachStrict, since the thirteenth session), not FairSilences
	ReviveEvery      time.Duration // loop.reviveEvery
	ReviveFor        time.Duration // loop.reviveFor
	WitnessesAtOnce  int           // loop.witnessesAtOnce
}

// Network is the delay, loss and CPU model (network.go).
type Network struct {
	// Base is a packet's one-way time from one kernel to another: wire,
	// switch and both kernels.
	Base time.Duration
	// SchedMedian and SchedSigma: every time a process wakes (a packet
	// for it, a timer) it runs after a lognormal delay with this median
	// and log-deviation. Zero median: at once.
	SchedMedian time.Duration
	SchedSigma  float64
	// StallRate, StallMedian, StallSigma: a process also stops outright
	// now and then (CPU starvation, a throttled cgroup, a long pause), a
	// Poisson process of StallRate per second per node, each stall
	// lognormal; everything for it waits until the stall ends. Its
	// kernel still answers TCP handshakes.
	StallRate   float64
	StallMedian time.Duration
	StallSigma  float64
	// Loss is every packet's independent chance to be lost, TCP
	// segments too.
	Loss float64
	// APIServerRTT is how long the apiserver takes to answer a node that
	// asks whether it is the one cut off (loop.cutOff), which only
	// happens when no witness answers.
	APIServerRTT time.Duration
	// AnnounceDelay is from the loop's decision to the first gratuitous
	// ARP: owners recomputed, interfaces listed, the announcer set.
	AnnounceDelay time.Duration
}

// Traffic is what the packet count needs beyond the protocol: TCP
// segments per stream exchange, as an iptables counter on the
// memberlist port sees them.
type Traffic struct {
	// InitiatorSegments, ResponderSegments: one small exchange (push-pull
	// of a small cluster, a TCP ping): SYN, ACK, the data, FIN and the
	// last ACK from the side that connects; SYN-ACK, its data with the
	// ACK piggybacked, FIN from the other: 4 + 3.
	InitiatorSegments int
	ResponderSegments int
	// StateBytesPerMember: a push-pull carries every member's state,
	// about 80 bytes of msgpack each (field names included) as the
	// speaker sends it since b037472, uncompressed; about 40 compressed,
	// as the validated builds sent it. Past one segment (MSS), every
	// extra segment and an ACK for every second one are counted.
	StateBytesPerMember int
	MSS                 int
}

// Params is one simulated cluster's configuration.
type Params struct {
	Timers
	Network
	Traffic
	VIPsPerNode    int
	ClientInterval time.Duration // the ARP client's probe interval (test/bench/failover)
	// vips, when set, are the Services' VIPs instead of VIPsPerNode per
	// node from 10.251.0.0 (the validation's harness with one Service).
	vips []netip.Addr
}

// Timer presets.
const (
	// presetToday is speaker/members.DefaultOptions and the watch as of
	// 806b66b: memberlist at its LAN pace (probe 1 s, gossip 200 ms), its
	// probe timeout, which the watch's pings share, kept at 50 ms.
	presetToday = "today"
	// presetRelaxed is the brief's candidate: probe 1 s, probe timeout
	// 500 ms, gossip 200 ms, the watch keeping its own 50 ms.
	presetRelaxed = "relaxed"
	// presetFast is the defaults from the watch's arrival (b17ab8e) until
	// 806b66b: probe 100 ms, gossip 20 ms. The lab's figures of
	// docs/benchmarks.md were measured with it.
	presetFast = "fast"
	// presetNoWatch is the speaker before the watch (2026-12-04): fast
	// memberlist, suspicion ×1, no watch.
	presetNoWatch = "nowatch"
)

// Network presets (the numbers and why: doc.go).
const (
	netLab        = "lab"
	netDatacenter = "datacenter"
)

func timerPreset(name string) (Timers, error) {
	// Today's are read from the speaker itself, so the model follows its
	// defaults when they change (and the validation test says whether it
	// still matches the lab); the rest are constants the speaker keeps
	// unexported, and memberlist's DefaultLANConfig.
	ml := members.DefaultOptions()
	t := Timers{
		ProbeInterval:           ml.ProbeInterval,
		ProbeTimeout:            ml.ProbeTimeout,
		IndirectChecks:          ml.IndirectChecks,
		SuspicionMult:           ml.SuspicionMult,
		SuspicionMaxTimeoutMult: ml.SuspicionMaxTimeoutMult,
		GossipInterval:          ml.GossipInterval,
		GossipNodes:             ml.GossipNodes,
		RetransmitMult:          ml.RetransmitMult,
		PushPullInterval:        ml.PushPullInterval,
		AwarenessMaxMultiplier:  ml.AwarenessMaxMultiplier,
		GossipToTheDead:         30 * time.Second,
		TCPPings:                true,
		MaxPiggyback:            15,
		Watch:                   true,
		WatchInterval:           loop.DefaultWatchInterval,
		WatchMisses:             loop.DefaultWatchMisses,
		WatchRetry:              true,
		WatchPingTimeout:        ml.ProbeTimeout,
		ReachTimeout:            ml.ReachTimeout,
		ReachAttempts:           4,
		FairSilences:            2,
		EarlyReach:              true,
		StalledHold:             loop.DefaultStalledHold,
		RecheckInterval:         50 * time.Millisecond,
		StrictRechecks:          true,
		ReviveEvery:             500 * time.Millisecond,
		ReviveFor:               time.Minute,
		WitnessesAtOnce:         3,
	}
	switch name {
	case presetToday:
	case presetRelaxed:
		t.ProbeTimeout, t.WatchPingTimeout = 500*time.Millisecond, 50*time.Millisecond
	case presetFast:
		t.ProbeInterval, t.GossipInterval = 100*time.Millisecond, 20*time.Millisecond
	case presetNoWatch:
		t.ProbeInterval, t.GossipInterval = 100*time.Millisecond, 20*time.Millisecond
		t.Watch, t.SuspicionMult = false, 1
	default:
		return Timers{}, fmt.Errorf("timer preset %q: want %s, %s, %s or %s", name, presetToday, presetRelaxed, presetFast, presetNoWatch)
	}
	return t, nil
}

func networkPreset(name string) (Network, error) {
	switch name {
	case netLab:
		return Network{
			Base:          50 * time.Microsecond,
			SchedMedian:   400 * time.Microsecond,
			SchedSigma:    1.0,
			StallRate:     2,
			StallMedian:   4 * time.Millisecond,
			StallSigma:    1.0,
			APIServerRTT:  5 * time.Millisecond,
			AnnounceDelay: 2 * time.Millisecond,
		}, nil
	case netDatacenter:
		return Network{
			Base:          100 * time.Microsecond,
			SchedMedian:   50 * time.Microsecond,
			SchedSigma:    0.8,
			StallRate:     1.0 / 60,
			StallMedian:   5 * time.Millisecond,
			StallSigma:    1.5,
			APIServerRTT:  2 * time.Millisecond,
			AnnounceDelay: 500 * time.Microsecond,
		}, nil
	}
	return Network{}, fmt.Errorf("network preset %q: want %s or %s", name, netLab, netDatacenter)
}

// NewParams returns the presets' parameters with two VIPs per node.
func NewParams(timers, network string) (Params, error) {
	t, err := timerPreset(timers)
	if err != nil {
		return Params{}, err
	}
	n, err := networkPreset(network)
	if err != nil {
		return Params{}, err
	}
	return Params{Timers: t, Network: n,
		Traffic:     Traffic{InitiatorSegments: 4, ResponderSegments: 3, StateBytesPerMember: 80, MSS: 1448},
		VIPsPerNode: 2, ClientInterval: 10 * time.Millisecond}, nil
}

// strictSilences is members.ReachStrict's: one fair silence more than a
// check's.
func (p Params) strictSilences() int { return p.FairSilences + 1 }

// mustParams is NewParams for presets known to exist.
func mustParams(timers, network string) Params {
	p, err := NewParams(timers, network)
	if err != nil {
		panic(err)
	}
	return p
}

// knob is one parameter a flag of its name sets; v points into a Params.
type knob struct {
	name, usage string
	v           any // *time.Duration, *int, *float64 or *bool
}

// knobs lists every parameter of p by flag name.
func (p *Params) knobs() []knob {
	return []knob{
		{"probe-interval", "memberlist ProbeInterval", &p.ProbeInterval},
		{"probe-timeout", "memberlist ProbeTimeout", &p.ProbeTimeout},
		{"indirect-checks", "memberlist IndirectChecks", &p.IndirectChecks},
		{"suspicion-mult", "memberlist SuspicionMult", &p.SuspicionMult},
		{"suspicion-max-mult", "memberlist SuspicionMaxTimeoutMult", &p.SuspicionMaxTimeoutMult},
		{"gossip-interval", "memberlist GossipInterval", &p.GossipInterval},
		{"gossip-nodes", "memberlist GossipNodes", &p.GossipNodes},
		{"retransmit-mult", "memberlist RetransmitMult", &p.RetransmitMult},
		{"pushpull-interval", "memberlist PushPullInterval (scaled by pushPullScale above 32 nodes)", &p.PushPullInterval},
		{"awareness-max", "memberlist AwarenessMaxMultiplier", &p.AwarenessMaxMultiplier},
		{"gossip-to-dead", "memberlist GossipToTheDeadTime", &p.GossipToTheDead},
		{"tcp-pings", "memberlist's TCP ping beside the indirect probes", &p.TCPPings},
		{"max-piggyback", "gossip messages per UDP packet", &p.MaxPiggyback},
		{"watch", "the successor's watch", &p.Watch},
		{"watch-interval", "the watch's ping interval", &p.WatchInterval},
		{"watch-misses", "pings missed in a row before a death check", &p.WatchMisses},
		{"watch-retry", "ping again at once after a miss that is not yet a silence", &p.WatchRetry},
		{"strict-rechecks", "a held member's rechecks want one fair silence more, as the early connection", &p.StrictRechecks},
		{"watch-ping-timeout", "the watch ping's timeout", &p.WatchPingTimeout},
		{"reach-timeout", "the death check's connect timeout", &p.ReachTimeout},
		{"reach-attempts", "connects per death check at most", &p.ReachAttempts},
		{"fair-silences", "silences that make a member unreachable", &p.FairSilences},
		{"early-reach", "the death check's connection made at a watched silence's first miss", &p.EarlyReach},
		{"stalled-hold", "how long a listening member declared dead keeps its VIPs (negative: no death check)", &p.StalledHold},
		{"recheck-interval", "a held member is connected to again this often", &p.RecheckInterval},
		{"revive-every", "a member taken over as gone is asked again this often", &p.ReviveEvery},
		{"revive-for", "... for this long", &p.ReviveFor},
		{"witnesses-at-once", "witnesses asked together by the cut-off check", &p.WitnessesAtOnce},
		{"net-base", "one-way packet time between kernels", &p.Base},
		{"sched-median", "median delay before a process runs when it wakes (lognormal)", &p.SchedMedian},
		{"sched-sigma", "log-deviation of that delay", &p.SchedSigma},
		{"stall-rate", "process stalls per node per second (Poisson)", &p.StallRate},
		{"stall-median", "median stall (lognormal)", &p.StallMedian},
		{"stall-sigma", "log-deviation of a stall", &p.StallSigma},
		{"loss", "packet loss probability for the failover runs (the false-alarm runs use -losses)", &p.Loss},
		{"apiserver-rtt", "the apiserver's answer to a node that may be cut off", &p.APIServerRTT},
		{"announce-delay", "from the takeover decision to the first gratuitous ARP", &p.AnnounceDelay},
		{"segments-initiator", "TCP segments the connecting side sends in a small exchange", &p.InitiatorSegments},
		{"segments-responder", "TCP segments the other side sends", &p.ResponderSegments},
		{"state-bytes", "push-pull bytes per member (about 40 with memberlist's compression)", &p.StateBytesPerMember},
		{"mss", "TCP maximum segment size", &p.MSS},
		{"vips-per-node", "Services (one VIP each) per node", &p.VIPsPerNode},
		{"client-interval", "the ARP client's probe interval", &p.ClientInterval},
	}
}

func setKnob(k knob, s string) error {
	switch v := k.v.(type) {
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*v = d
	case *int:
		i, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		*v = i
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		*v = f
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		*v = b
	}
	return nil
}

func knobString(k knob) string {
	switch v := k.v.(type) {
	case *time.Duration:
		return v.String()
	case *int:
		return strconv.Itoa(*v)
	case *float64:
		return strconv.FormatFloat(*v, 'g', -1, 64)
	case *bool:
		return strconv.FormatBool(*v)
	}
	return ""
}

// knobFlags registers a flag per knob; what the command line sets is kept
// aside and applied over whichever presets the run picks (Overrides).
type knobFlags struct {
	set map[string]string
}

type knobValue struct {
	flags *knobFlags
	k     knob
	def   string
}

func (v *knobValue) String() string {
	if v == nil {
		return ""
	}
	return v.def
}

func (v *knobValue) Set(s string) error {
	probe := v.k
	var scratch Params
	for _, k := range scratch.knobs() {
		if k.name == probe.name {
			if err := setKnob(k, s); err != nil {
				return err
			}
		}
	}
	v.flags.set[probe.name] = s
	return nil
}

// IsBoolFlag lets -watch=false and -tcp-pings=false parse as bools.
func (v *knobValue) IsBoolFlag() bool {
	_, ok := v.k.v.(*bool)
	return ok
}

func registerKnobs(fs *flag.FlagSet) *knobFlags {
	kf := &knobFlags{set: map[string]string{}}
	defaults := mustParams(presetToday, netDatacenter)
	for _, k := range defaults.knobs() {
		fs.Var(&knobValue{flags: kf, k: k, def: knobString(k)}, k.name, k.usage)
	}
	return kf
}

// apply sets on p every knob the command line named.
func (kf *knobFlags) apply(p *Params) {
	for _, k := range p.knobs() {
		if s, ok := kf.set[k.name]; ok {
			_ = setKnob(k, s) // checked by Set
		}
	}
}

// describe lists the knobs that differ from base, for the report.
func (p *Params) describe(base Params) string {
	var diff []string
	bk := base.knobs()
	for i, k := range p.knobs() {
		if s := knobString(k); s != knobString(bk[i]) {
			diff = append(diff, fmt.Sprintf("-%s=%s", k.name, s))
		}
	}
	slices.Sort(diff)
	return strings.Join(diff, " ")
}
