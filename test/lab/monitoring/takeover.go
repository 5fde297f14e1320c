package monitoring

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/ironlb/ironlb/test/lab/timeline"
)

// Takeover is one failover as the new owner's metrics record it: the
// announcing pod and the takeover's moments.
type Takeover struct {
	Pod string
	timeline.Takeover
}

// PhaseSums are the speakers' cumulative takeover phase times, by pod and
// phase, and how many takeovers each pod recorded.
type PhaseSums struct {
	Sum   map[string]map[string]float64 // pod → phase → seconds
	Count map[string]float64            // pod → takeovers
	// At is when they were read.
	At time.Time
}

// Phases reads every speaker's takeover phase sums now.
func (p *Prometheus) Phases(ctx context.Context) (PhaseSums, error) {
	ps := PhaseSums{Sum: map[string]map[string]float64{}, Count: map[string]float64{}, At: time.Now()}
	v, err := p.Query(ctx, `sum by (pod, phase) (ironlb_layer2_takeover_seconds_sum)`)
	if err != nil {
		return ps, err
	}
	for _, s := range v.(model.Vector) {
		pod, phase := string(s.Metric["pod"]), string(s.Metric["phase"])
		if ps.Sum[pod] == nil {
			ps.Sum[pod] = map[string]float64{}
		}
		ps.Sum[pod][phase] = float64(s.Value)
	}
	v, err = p.Query(ctx, `sum by (pod) (ironlb_layer2_failover_seconds_count)`)
	if err != nil {
		return ps, err
	}
	for _, s := range v.(model.Vector) {
		ps.Count[string(s.Metric["pod"])] = float64(s.Value)
	}
	return ps, nil
}

// LastTakeover reconstructs the takeover of service from the metrics: the
// announcing pod and moment from ironlb_layer2_last_failover_timestamp_seconds,
// and the phases from that pod's phase sums since before (exactly one
// takeover must lie between). A takeover recorded before the baseline (on
// another node, while the speakers started) is not this one.
func (p *Prometheus) LastTakeover(ctx context.Context, service string, before PhaseSums) (Takeover, error) {
	var t Takeover
	v, err := p.Query(ctx, fmt.Sprintf(`ironlb_layer2_last_failover_timestamp_seconds{service=%q}`, service))
	if err != nil {
		return t, err
	}
	var vec model.Vector
	for _, s := range v.(model.Vector) {
		if !unixTime(float64(s.Value)).Before(before.At) {
			vec = append(vec, s)
		}
	}
	if len(vec) != 1 {
		return t, fmt.Errorf("%s: %d series of ironlb_layer2_last_failover_timestamp_seconds since %s (of %d), want the new owner's one",
			service, len(vec), before.At.Format(time.RFC3339Nano), len(v.(model.Vector)))
	}
	t.Pod = string(vec[0].Metric["pod"])
	t.Announced = unixTime(float64(vec[0].Value))
	after, err := p.Phases(ctx)
	if err != nil {
		return t, err
	}
	if n := after.Count[t.Pod] - before.Count[t.Pod]; n != 1 {
		return t, fmt.Errorf("%s recorded %v takeovers since the baseline, want 1", t.Pod, n)
	}
	delta := func(phase string) time.Duration {
		d := after.Sum[t.Pod][phase] - before.Sum[t.Pod][phase]
		return time.Duration(math.Round(d * float64(time.Second)))
	}
	t.Decided = t.Announced.Add(-delta("announce"))
	t.Detected = t.Decided.Add(-delta("decision"))
	t.LastContact = t.Detected.Add(-delta("detection"))
	return t, nil
}

func unixTime(sec float64) time.Time {
	s, frac := math.Modf(sec)
	return time.Unix(int64(s), int64(frac*1e9))
}
