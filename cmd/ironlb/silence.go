package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/migrate"
)

// pollEvery is how often the silencing commands look again while they wait
// for speakers to withdraw or to be gone.
const pollEvery = 250 * time.Millisecond

// reloadTime is the least time silence waits after writing: a speaker
// reloads its configuration within it.
const reloadTime = 2 * time.Second

// silence silences the L2Advertisements of o.namespace for one speaker
// DaemonSet while the other keeps announcing, and waits until the silenced
// speakers have withdrawn. metallb: the speakers silenced are MetalLB's
// (the spec is rewritten, as they read no annotation); otherwise IronLB's
// own (the annotation alone, so MetalLB's go on reading the spec).
func silence(ctx context.Context, c client.Client, o options, metallb bool, out io.Writer) error {
	sets, err := migrate.SpeakerSets(ctx, c, o.namespace)
	if err != nil {
		return err
	}
	ours := o.release + "-speaker"
	quiet, other := o.speakers, ours
	if !metallb {
		quiet, other = ours, o.speakers
	}
	if quiet == "" || other == "" {
		guess, err := otherSpeakers(sets, ours)
		if err != nil {
			return err
		}
		if quiet == "" {
			quiet = guess
		} else {
			other = guess
		}
	}
	q, ok := sets[quiet]
	if !ok {
		return fmt.Errorf("no speaker DaemonSet %s/%s (speaker DaemonSets there: %s)", o.namespace, quiet, names(sets))
	}
	if d, ok := sets[other]; !ok || !migrate.AllReady(d) {
		return fmt.Errorf("the speakers of DaemonSet %s/%s, which keep announcing, are not all ready (%s): silencing %s now would leave VIPs unanswered",
			o.namespace, other, readiness(d, ok), quiet)
	}
	verb := "Silencing"
	if o.dryRun {
		verb = "Would silence (--dry-run: nothing is changed)"
	}
	how := "annotation " + config.AnnotationSilencedSpeakers
	if metallb {
		how = "spec.nodeSelectors made to select no node, the selectors before kept in annotation " + config.AnnotationNodeSelectorsBefore +
			" for IronLB's speakers; and annotation " + config.AnnotationSilencedSpeakers
	}
	fmt.Fprintf(out, "%s the speakers of DaemonSet %s/%s (%s keeps announcing): every L2Advertisement selects no node for them (%s).\n",
		verb, o.namespace, quiet, other, how)
	changed, err := migrate.SilenceAll(ctx, c, o.namespace, quiet, metallb, o.dryRun)
	for _, n := range changed {
		fmt.Fprintf(out, "  L2Advertisement %s/%s\n", o.namespace, n)
	}
	if err != nil {
		return fmt.Errorf("%w (run the command again to finish, or `ironlb migrate unsilence` to undo)", err)
	}
	if len(changed) == 0 {
		fmt.Fprintf(out, "  nothing to change: every L2Advertisement is silenced for them already\n")
	}
	if o.dryRun {
		return nil
	}
	// Speakers that write no ServiceL2Status leave nothing to wait for:
	// give them the time a configuration reload takes.
	reloaded := time.After(reloadTime)
	if err := waitFor(ctx, o.timeout, func() (string, error) {
		still, err := migrate.Announcing(ctx, c, o.namespace, q)
		return strings.Join(still, ", "), err
	}); err != nil {
		return fmt.Errorf("the silenced speakers of %s still announce after %v: %w (`ironlb migrate unsilence` undoes the silence)", quiet, o.timeout, err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-reloaded:
	}
	fmt.Fprintf(out, "Done: the speakers of %s announce nothing now; %s answers every VIP.\n", quiet, other)
	return nil
}

// unsilence restores every L2Advertisement of o.namespace, once no pod of
// a DaemonSet it is silenced for runs: such a speaker would announce again.
func unsilence(ctx context.Context, c client.Client, o options, out io.Writer) error {
	var advs v1beta1.L2AdvertisementList
	if err := c.List(ctx, &advs, client.InNamespace(o.namespace)); err != nil {
		return fmt.Errorf("listing the L2Advertisements of %s: %w", o.namespace, err)
	}
	var silenced []string
	for i := range advs.Items {
		for _, s := range config.SilencedSpeakers(&advs.Items[i]) {
			if !slices.Contains(silenced, s) {
				silenced = append(silenced, s)
			}
		}
	}
	slices.Sort(silenced)
	if !o.dryRun {
		if err := waitFor(ctx, o.timeout, func() (string, error) { return running(ctx, c, silenced) }); err != nil {
			return fmt.Errorf("speakers of a silenced DaemonSet still run after %v (%w): remove them first, or they announce again once unsilenced", o.timeout, err)
		}
	}
	verb := "Unsilencing"
	if o.dryRun {
		verb = "Would unsilence (--dry-run: nothing is changed)"
	}
	fmt.Fprintf(out, "%s the L2Advertisements of %s (silenced for %s): their node selectors back in the spec, the silencing annotations removed.\n",
		verb, o.namespace, strings.Join(silenced, ", "))
	changed, err := migrate.UnsilenceAll(ctx, c, o.namespace, o.dryRun)
	for _, n := range changed {
		fmt.Fprintf(out, "  L2Advertisement %s/%s\n", o.namespace, n)
	}
	if err != nil {
		return fmt.Errorf("%w (run the command again to finish)", err)
	}
	if len(changed) == 0 {
		fmt.Fprintf(out, "  nothing to change: no L2Advertisement is silenced\n")
	}
	return nil
}

// running describes the DaemonSets of sets ("namespace/name") that still
// exist and the pods they left that still run ("" when none).
func running(ctx context.Context, c client.Client, sets []string) (string, error) {
	var left []string
	for _, s := range sets {
		ns, name, _ := strings.Cut(s, "/")
		var ds appsv1.DaemonSet
		switch err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ds); {
		case err == nil:
			left = append(left, "DaemonSet "+s)
			continue
		case client.IgnoreNotFound(err) != nil:
			return "", fmt.Errorf("reading DaemonSet %s: %w", s, err)
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return "", fmt.Errorf("listing the pods of %s: %w", ns, err)
		}
		for _, p := range pods.Items {
			for _, ref := range p.OwnerReferences {
				if ref.Kind == "DaemonSet" && ref.Name == name {
					left = append(left, "pod "+ns+"/"+p.Name)
				}
			}
		}
	}
	return strings.Join(left, ", "), nil
}

// waitFor polls pending until it reports nothing pending, for at most
// timeout; the error names what was still pending.
func waitFor(ctx context.Context, timeout time.Duration, pending func() (string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		what, err := pending()
		if err != nil {
			return err
		}
		if what == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still: %s", what)
		case <-tick.C:
		}
	}
}

// otherSpeakers is the one speaker DaemonSet besides ours.
func otherSpeakers(sets map[string]appsv1.DaemonSet, ours string) (string, error) {
	var others []string
	for n := range sets {
		if n != ours {
			others = append(others, n)
		}
	}
	if len(others) != 1 {
		slices.Sort(others)
		return "", fmt.Errorf("want exactly one speaker DaemonSet besides %s, found %d (%s): name MetalLB's with --speakers",
			ours, len(others), strings.Join(others, ", "))
	}
	return others[0], nil
}

func names(sets map[string]appsv1.DaemonSet) string {
	var out []string
	for n := range sets {
		out = append(out, n)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func readiness(d appsv1.DaemonSet, exists bool) string {
	if !exists {
		return "no such speaker DaemonSet"
	}
	return fmt.Sprintf("%d of %d ready, %d up to date", d.Status.NumberReady, d.Status.DesiredNumberScheduled, d.Status.UpdatedNumberScheduled)
}
