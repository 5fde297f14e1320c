// Package loop runs the speaker's decisions: one goroutine owns the agent,
// applies cluster updates and membership events to it, and hands the
// result to the announcer first, then to BGP and to the status writers,
// so neither BGP nor the API is on the layer-2 failover path.
package loop

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/speaker/agent"
	"github.com/ironlb/ironlb/speaker/bgpspec"
	"github.com/ironlb/ironlb/speaker/members"
)

// Update is one change of cluster state, as adapters report it. Exactly
// one field is set.
type Update struct {
	Service       *agent.Service
	RemoveService string
	Node          *agent.Node
	RemoveNode    string
	Config        *config.Config
	// Member reports membership from Node readiness, when memberlist is off.
	Member *members.Event
}

// Membership reports member changes; *members.Members implements it.
type Membership interface {
	Next(ctx context.Context) ([]members.Event, error)
	// Alive returns the live members, this one included.
	Alive() []string
	// Settled is closed once this member has tried to join the others
	// (or found none to join): only then does Alive mean the cluster.
	Settled() <-chan struct{}
}

// DefaultSettleTimeout bounds the quiet start when joining never
// completes (every peer unreachable): the speaker then acts on what it
// knows. Joining live peers takes one exchange, milliseconds on a LAN.
const DefaultSettleTimeout = 10 * time.Second

// Announcer answers for VIPs; *layer2.Announcer implements it.
type Announcer interface {
	Set(want map[netip.Addr][]string) error
}

// StatusSink learns, after the packets went out, which Services this node
// announces, on which interfaces.
type StatusSink interface {
	Announcing(service string, interfaces []string)
	NotAnnouncing(service string)
	// AnnounceFailed: this node owns the Service, but none of the
	// interfaces its L2Advertisements name exists here, so it is not
	// announced (MetalLB's announceFailed Event). Told once per failure.
	AnnounceFailed(service string, ips []netip.Addr)
}

// Metrics observes what the loop does.
type Metrics interface {
	Announced(service string, ips []netip.Addr, on bool)
	// Takeover: this node took the services over from a member that died:
	// the last packet heard from it (zero when none), its death learned,
	// owners recomputed, announcer set.
	Takeover(services []string, lastContact, detected, decided, announced time.Time)
	MembersAlive(n int)
	// ServiceSeen and ServiceGone bound a Service's per-service series:
	// they exist from the moment the Service is known, so the first
	// change of owner is a change, not the birth of a series.
	ServiceSeen(service string)
	ServiceGone(service string)
	// AnnouncedBGP: this node starts (on) or stops advertising the
	// Service's IPs over BGP.
	AnnouncedBGP(service string, ips []netip.Addr, on bool)
}

// Loop owns the agent.
type Loop struct {
	Agent      *agent.Agent
	Updates    <-chan Update
	Members    Membership // nil: membership comes from Node readiness updates only
	Announcer  Announcer
	Status     StatusSink
	Interfaces func() []string // every usable interface of the node
	// Present lists the interfaces of the node an L2Advertisement may
	// name: every one the excludel2 list spares, up or not, with an
	// address or not. nil: every named interface is taken as present.
	Present func() []string
	// InterfacesChanged receives when the node's interfaces or addresses
	// changed (ifwatch): the loop lists them anew and announces on what
	// appeared. May be nil.
	InterfacesChanged <-chan struct{}
	Clock             clock.Clock
	Log               logr.Logger
	// Metrics observes announcements and takeovers; may be nil.
	Metrics Metrics
	// SettleTimeout: with Members set, the loop announces nothing until
	// Members has settled, at most this long (DefaultSettleTimeout when
	// zero). A speaker that starts alone in its own view would otherwise
	// own every VIP for a moment and send gratuitous announcements for
	// them all: a node coming back would pull every VIP to itself and
	// let go again.
	SettleTimeout time.Duration
	// HandoffLinger: a VIP this node loses to another live node (a node
	// coming back, a changed selector or endpoint) is still answered this
	// long after the new owner took it (DefaultHandoffLinger when zero;
	// negative: not at all). Make before break: the new owner announces at
	// once, and a client that asks meanwhile is never met with silence.
	HandoffLinger time.Duration

	// Reacher, when set, checks a member memberlist declares dead before
	// the agent believes it (deaths.go): a speaker that still accepts
	// connections is stalled, not dead, and keeps its VIPs for
	// StalledHold (DefaultStalledHold when zero; negative: never held).
	// A false death would otherwise move its VIPs to another node and
	// back, and reset the connections its node's conntrack held.
	Reacher     Reacher
	StalledHold time.Duration
	// Witnesses, with Reacher, lists the other members memberlist holds
	// alive, node → memberlist address; Connected reports whether the
	// apiserver answers (nil: not asked). Before a member that does not
	// answer is believed dead, the loop asks whether it is itself the one
	// cut off (deaths.go, cutOff). Witnesses nil: not asked.
	Witnesses func() map[string]string
	Connected func(ctx context.Context) error
	// Watcher, with Reacher and Witnesses, pings every WatchInterval
	// (DefaultWatchInterval when zero; negative: off) the members this
	// node would take a VIP over from, and checks the death of one that
	// misses WatchMisses pings in a row (DefaultWatchMisses when zero)
	// without waiting for memberlist's verdict (watch.go).
	Watcher       Watcher
	WatchInterval time.Duration
	WatchMisses   int

	// BGP, when set, is made to match the agent's BGP decision on every
	// sync, after the announcer; nil: layer 2 only.
	BGP BGP
	// BGPStatus learns to which peers each Service is advertised; may be nil.
	BGPStatus BGPStatusSink
	// BGPRetry: a failed Set is tried again this long after, unless a
	// change comes first (DefaultBGPRetry when zero).
	BGPRetry time.Duration

	bgpSent   *bgpspec.Desired        // last Desired Set accepted; nil: none or it failed
	bgpPeers  map[string][]string     // service → peers it is advertised to
	bgpIPs    map[string][]netip.Addr // service → its IPs advertised over BGP
	bgpRetryT clock.Timer

	announced map[string][]string // service → interfaces this node announces it on
	ips       map[string][]netip.Addr
	// failed holds the Services this node owns but cannot announce: none
	// of the interfaces named for them exists here.
	failed    map[string]bool
	lingering map[netip.Addr]linger
	lingerT   clock.Timer // fires when the first lingering VIP expires

	deaths   map[string]*death // members declared dead, being checked or held
	deathGen int
	reached  chan reached   // the checks' verdicts
	checks   sync.WaitGroup // the checks' goroutines
	holdT    clock.Timer    // fires when the first hold ends

	// revivals: members taken over as gone that are asked again (revive).
	revivals map[string]context.CancelFunc

	watches      map[string]context.CancelFunc // watched members
	watchReports chan watchReport
	// believedOnWatch: members this node believed dead on its own check
	// (watch.go) while memberlist still holds them alive.
	believedOnWatch map[string]bool

	// applied counts the updates applied to the agent; afterStep, when
	// set (by tests), is called with it each time the loop has finished
	// handling one input, sync included: a test waits for the step that
	// took its update instead of sleeping and hoping it was taken.
	applied   int
	afterStep func(applied int)
}

// DefaultHandoffLinger covers the new owner's first announcement (it joins
// with its state loaded and announces within milliseconds of the others
// learning of it) with a wide margin, and is short because while both
// answer, a client that asks may take either: the new owner's later
// announcements correct it, but every switch of MAC resets the
// connections a node's conntrack held.
const DefaultHandoffLinger = 250 * time.Millisecond

type linger struct {
	interfaces []string
	until      time.Time
}

// Run serves until ctx ends.
func (l *Loop) Run(ctx context.Context) error {
	if l.Clock == nil {
		l.Clock = clock.RealClock{}
	}
	if l.HandoffLinger == 0 {
		l.HandoffLinger = DefaultHandoffLinger
	}
	l.announced = map[string][]string{}
	l.ips = map[string][]netip.Addr{}
	l.failed = map[string]bool{}
	l.lingering = map[netip.Addr]linger{}
	if l.StalledHold == 0 {
		l.StalledHold = DefaultStalledHold
	}
	l.deaths = map[string]*death{}
	l.revivals = map[string]context.CancelFunc{}
	l.reached = make(chan reached)
	if l.WatchInterval == 0 {
		l.WatchInterval = DefaultWatchInterval
	}
	if l.WatchMisses == 0 {
		l.WatchMisses = DefaultWatchMisses
	}
	l.watches = map[string]context.CancelFunc{}
	l.watchReports = make(chan watchReport)
	l.believedOnWatch = map[string]bool{}
	checksCtx, stopChecks := context.WithCancel(ctx)
	ctx = checksCtx
	defer func() {
		stopChecks()
		l.checks.Wait()
		if l.lingerT != nil {
			l.lingerT.Stop()
		}
		if l.holdT != nil {
			l.holdT.Stop()
		}
		l.stopBGPRetry()
	}()
	memberEvents := make(chan []members.Event)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		if l.Members == nil {
			return
		}
		for {
			evs, err := l.Members.Next(ctx)
			if err != nil {
				return
			}
			select {
			case memberEvents <- evs:
			case <-ctx.Done():
				return
			}
		}
	}()
	// Until membership settles, updates only reach the agent.
	var settled <-chan struct{}
	var settleTimeout <-chan time.Time
	stopSettleTimer := func() {}
	quiet := l.Members != nil
	if quiet {
		settled = l.Members.Settled()
		timeout := l.SettleTimeout
		if timeout == 0 {
			timeout = DefaultSettleTimeout
		}
		t := l.Clock.NewTimer(timeout)
		stopSettleTimer = func() { t.Stop() }
		defer stopSettleTimer()
		settleTimeout = t.C()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-settled:
			quiet, settled, settleTimeout = false, nil, nil
			stopSettleTimer()
			// What was sent before the join (the initial state) is
			// buffered: take it all before announcing.
			l.drainUpdates(ctx)
			l.settle(ctx)
		case <-l.lingerExpired():
			l.lingerT = nil
			l.sync(failure{})
		case <-l.InterfacesChanged:
			if !quiet {
				l.sync(failure{})
			}
		case <-l.bgpRetryDue():
			l.bgpRetryT = nil
			l.syncBGP()
		case <-settleTimeout:
			quiet, settled, settleTimeout = false, nil, nil
			l.Log.Info("not every speaker has joined yet; announcing with the members known so far", "members", l.Members.Alive())
			l.settle(ctx)
		case u := <-l.Updates:
			l.apply(ctx, u)
			l.drainUpdates(ctx)
			if !quiet {
				l.sync(failure{})
			}
		case v := <-l.reached:
			if f := l.verdict(ctx, v); !quiet && !f.detected.IsZero() {
				l.sync(f)
			}
		case <-l.holdExpired():
			l.holdT = nil
			if f := l.holdsExpired(); !quiet && !f.detected.IsZero() {
				l.sync(f)
			}
		case r := <-l.watchReports:
			if l.watched(ctx, r) && !quiet {
				l.sync(failure{})
			}
		case evs := <-memberEvents:
			f := l.membership(ctx, evs...)
			if l.Metrics != nil {
				l.Metrics.MembersAlive(len(l.Members.Alive()))
			}
			if !quiet {
				l.sync(f)
			}
		}
		if !quiet {
			l.rewatch(ctx)
		}
		if l.afterStep != nil {
			l.afterStep(l.applied)
		}
	}
}

// settle takes in every member known once joining is done, and announces.
func (l *Loop) settle(ctx context.Context) {
	alive := l.Members.Alive()
	for _, n := range alive {
		l.membership(ctx, members.Event{Kind: members.Joined, Node: n})
	}
	if l.Metrics != nil {
		l.Metrics.MembersAlive(len(alive))
	}
	l.Log.Info("membership settled", "members", alive)
	l.sync(failure{})
}

// handOff keeps answering, for HandoffLinger, the VIPs of Services this
// node announced and another live node now owns, and adds every lingering
// VIP still due to want. Caller: sync, before the announcer is set.
func (l *Loop) handOff(byService map[string][]string, want map[netip.Addr][]string) {
	now := l.Clock.Now()
	for svc, ips := range l.ips {
		if _, still := byService[svc]; still || l.HandoffLinger < 0 {
			continue
		}
		// Only a VIP lost to a better-ranked node lingers: one this node
		// may no longer announce (no local endpoint for
		// externalTrafficPolicy Local, a selector that leaves it out) or
		// that nobody announces any more stops at once.
		if owner := l.Agent.Owner(svc); owner == "" || !l.Agent.Eligible(svc) {
			continue
		}
		for _, ip := range ips {
			l.lingering[ip] = linger{interfaces: l.announced[svc], until: now.Add(l.HandoffLinger)}
		}
	}
	var next time.Time
	for ip, lg := range l.lingering {
		if _, owned := want[ip]; owned || !now.Before(lg.until) {
			delete(l.lingering, ip)
			continue
		}
		want[ip] = lg.interfaces
		if next.IsZero() || lg.until.Before(next) {
			next = lg.until
		}
	}
	if l.lingerT != nil {
		l.lingerT.Stop()
		l.lingerT = nil
	}
	if !next.IsZero() {
		l.lingerT = l.Clock.NewTimer(next.Sub(now))
	}
}

// lingerExpired fires when a lingering VIP is due to be released; nil
// (never) when none lingers.
func (l *Loop) lingerExpired() <-chan time.Time {
	if l.lingerT == nil {
		return nil
	}
	return l.lingerT.C()
}

// drainUpdates applies whatever else is already queued, so a burst of
// cluster changes costs one sync.
func (l *Loop) drainUpdates(ctx context.Context) {
	for {
		select {
		case u := <-l.Updates:
			l.apply(ctx, u)
		default:
			return
		}
	}
}

func (l *Loop) apply(ctx context.Context, u Update) {
	l.applied++
	switch {
	case u.Config != nil:
		l.Agent.SetConfig(u.Config)
	case u.Node != nil:
		l.Agent.SetNode(*u.Node)
	case u.RemoveNode != "":
		l.Agent.RemoveNode(u.RemoveNode)
	case u.Service != nil:
		l.Agent.SetService(*u.Service)
		if l.Metrics != nil {
			l.Metrics.ServiceSeen(u.Service.Key)
		}
	case u.RemoveService != "":
		l.Agent.RemoveService(u.RemoveService)
		if l.Metrics != nil {
			l.Metrics.ServiceGone(u.RemoveService)
		}
	case u.Member != nil:
		l.membership(ctx, *u.Member)
	}
}

// membership is the one path by which member changes reach the agent,
// whether memberlist reports them or, with memberlist off, Node readiness
// does. A death memberlist declares is checked first (suspect). It returns
// the failure a sync answers: the last member that left.
func (l *Loop) membership(ctx context.Context, evs ...members.Event) failure {
	var f failure
	for _, e := range evs {
		switch {
		case e.Kind == members.Left && l.believedOnWatch[e.Node]:
			delete(l.believedOnWatch, e.Node) // memberlist agrees; already taken over
		case e.Kind == members.Left && l.suspect(ctx, e):
		case e.Kind == members.Left:
			l.Agent.MemberLeft(e.Node)
			f = failure{lastContact: e.LastContact, detected: e.At}
		default:
			delete(l.believedOnWatch, e.Node)
			l.refuted(e.Node)
			l.revived(e.Node)
			l.Agent.MemberJoined(e.Node)
		}
	}
	return f
}

// failure is a member's death that a sync answers: when the member last
// answered a probe (zero when unknown) and when its death was learned
// (zero when the sync is not a failover).
type failure struct {
	lastContact, detected time.Time
}

// sync makes the announcer match the agent, then reports the differences
// to the status sink.
func (l *Loop) sync(f failure) {
	decided := l.Clock.Now()
	anns := l.Agent.Announcements()
	want := map[netip.Addr][]string{}
	byService := map[string][]string{}
	ips := map[string][]netip.Addr{}
	// Every usable interface, listed once per sync: listing them is a
	// netlink dump, too dear to repeat per VIP.
	var all, present []string
	listed, presentListed := false, false
	failed := map[string][]netip.Addr{}
	for _, a := range anns {
		ifaces := a.Interfaces
		switch {
		case ifaces == nil && l.Interfaces != nil:
			if !listed {
				all, listed = l.Interfaces(), true
			}
			ifaces = all
		case ifaces != nil && l.Present != nil:
			if !presentListed {
				present, presentListed = l.Present(), true
			}
			// As MetalLB: only the named interfaces that exist here and
			// that the excludel2 list spares; none of them, and the owner
			// does not announce and says so on the Service.
			ifaces = slices.DeleteFunc(slices.Clone(ifaces), func(i string) bool { return !slices.Contains(present, i) })
			if len(ifaces) == 0 {
				failed[a.Service] = append(failed[a.Service], a.IP)
				continue
			}
		}
		want[a.IP] = ifaces
		byService[a.Service] = ifaces
		ips[a.Service] = append(ips[a.Service], a.IP)
	}
	for svc := range l.failed {
		if _, still := failed[svc]; !still {
			delete(l.failed, svc)
		}
	}
	for svc, ips := range failed {
		if !l.failed[svc] {
			l.failed[svc] = true
			l.Log.Info("not announcing: none of the interfaces named for the Service exists on this node", "service", svc, "ips", ips)
			l.Status.AnnounceFailed(svc, ips)
		}
	}
	l.handOff(byService, want)
	if err := l.Announcer.Set(want); err != nil {
		l.Log.Error(err, "announcing; the interfaces named are skipped")
	}
	announced := l.Clock.Now()
	var tookOver []string
	for svc, ifaces := range byService {
		prev, had := l.announced[svc]
		if !had {
			tookOver = append(tookOver, svc)
			l.Log.Info("announcing", "service", svc, "ips", ips[svc], "interfaces", ifaces)
			if l.Metrics != nil {
				l.Metrics.Announced(svc, ips[svc], true)
			}
		}
		if !had || !slices.Equal(prev, ifaces) {
			l.Status.Announcing(svc, ifaces)
		}
	}
	for svc := range l.announced {
		if _, still := byService[svc]; !still {
			l.Log.Info("no longer announcing", "service", svc, "ips", l.ips[svc])
			l.Status.NotAnnouncing(svc)
			if l.Metrics != nil {
				l.Metrics.Announced(svc, l.ips[svc], false)
			}
		}
	}
	if len(tookOver) > 0 && !f.detected.IsZero() {
		slices.Sort(tookOver)
		start := f.detected
		if !f.lastContact.IsZero() && f.lastContact.Before(f.detected) {
			start = f.lastContact
		}
		// The same figures as the takeover metrics, per takeover: what a
		// benchmark compares with the outage its client saw.
		l.Log.Info("took over from a failed member", "services", tookOver, "failoverSeconds", announced.Sub(start).Seconds(),
			"detectionSeconds", f.detected.Sub(start).Seconds(), "decisionSeconds", decided.Sub(f.detected).Seconds(),
			"announceSeconds", announced.Sub(decided).Seconds())
		if l.Metrics != nil {
			l.Metrics.Takeover(tookOver, f.lastContact, f.detected, decided, announced)
		}
	}
	l.announced, l.ips = byService, ips
	l.syncBGP()
}
