package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
)

// TestNextGridPoint covers the round grid: rounds stay on origin + k*interval
// whatever their duration and start latency, and every grid point passed
// without a round is counted as missed.
func TestNextGridPoint(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const iv = 60 * time.Second
	at := func(d time.Duration) time.Time { return origin.Add(d) }
	tests := []struct {
		name       string
		due, now   time.Duration // after origin
		wantNext   time.Duration
		wantMissed int64
	}{
		{"first round, quick", 0, 2 * time.Second, iv, 0},
		{"on time, quick", 5 * iv, 5*iv + 3*time.Second, 6 * iv, 0},
		// Senlin's example: interval 60, a 150 s round: missed 2, next at 180.
		{"overran by 150 s", 0, 150 * time.Second, 3 * iv, 2},
		{"ends exactly on a point: that point is next", 0, iv, iv, 0},
		{"ends just after a point: it is missed", 0, iv + time.Millisecond, 2 * iv, 1},
		// The timer fired 80 ms late and the round took 1 s: the next round
		// keeps its slot, the lateness does not carry over.
		{"late start does not drift", 3 * iv, 3*iv + 1080*time.Millisecond, 4 * iv, 0},
		// A start so late that it passed a whole slot counts that slot.
		{"start later than a slot", 3 * iv, 4*iv + 30*time.Second, 5 * iv, 1},
		// A due time a few ms off the grid (clock rounding) is still its slot.
		{"due slightly off the grid", 2*iv - 3*time.Millisecond, 2*iv + time.Second, 3 * iv, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, missed := nextGridPoint(origin, iv, at(tt.due), at(tt.now))
			if !next.Equal(at(tt.wantNext)) || missed != tt.wantMissed {
				t.Errorf("nextGridPoint(due +%s, now +%s): got next +%s missed %d, want +%s missed %d",
					tt.due, tt.now, next.Sub(origin), missed, tt.wantNext, tt.wantMissed)
			}
		})
	}
}

// TestFailedRoundIsShown: a round whose sweep fails (here with the
// non-retryable error of a result too large to carry) is counted, keeps the
// grid, and its error shows in the status until a round runs again.
func TestFailedRoundIsShown(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.env.OnActivity(a.CheckCluster, mock.Anything, mock.Anything).
		Return(activities.CheckClusterResult{}, temporal.NewNonRetryableApplicationError(
			"the sweep result of cluster c1 is too large", activities.ErrTypeSweepTooLarge, nil)).Once()
	h.env.OnActivity(a.CheckCluster, mock.Anything, mock.Anything).Return(h.engine.Activities().CheckCluster)
	var failed, recovered Status
	h.at(30*time.Second, func() { failed = h.status() })
	h.at(90*time.Second, func() { recovered = h.status() })
	h.run(Input{Registration: urlRegistration()}, 100*time.Second)
	if failed.Counters.RoundErrors != 1 || !strings.Contains(failed.LastRoundError, "too large") {
		t.Errorf("after the failed round: got %d round errors and last error %q, want 1 and the sweep's error",
			failed.Counters.RoundErrors, failed.LastRoundError)
	}
	if want := h.start.Add(60 * time.Second); !failed.NextRound.Equal(want) {
		t.Errorf("after the failed round: next round %s, want %s on the grid", failed.NextRound, want)
	}
	if recovered.LastRoundError != "" || recovered.Counters.Rounds != 2 || recovered.NodeCount != 3 {
		t.Errorf("after a round that ran: got last error %q, %d rounds, %d nodes; want none, 2, 3",
			recovered.LastRoundError, recovered.Counters.Rounds, recovered.NodeCount)
	}
}

// TestPhaseOrigin: a cluster's grid lies on its own phase, which its ID
// picks: the origin is at most an interval before the moment the grid
// starts, grids started at other moments keep the phase, and the phases of a
// fleet registered in the same second spread over the interval.
func TestPhaseOrigin(t *testing.T) {
	const iv = 60 * time.Second
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	first := PhaseOrigin("fleet-0001", iv, t0)
	for _, d := range []time.Duration{0, time.Millisecond, 17 * time.Second, iv - 1, iv, 3*iv + 5*time.Second, 1000 * time.Hour} {
		at := t0.Add(d)
		o := PhaseOrigin("fleet-0001", iv, at)
		if o.After(at) || at.Sub(o) >= iv {
			t.Errorf("origin at +%s: got %s, want within the interval before %s", d, o, at)
		}
		if off := o.Sub(first) % iv; off != 0 {
			t.Errorf("origin at +%s is %s off the cluster's phase", d, off)
		}
	}
	if o := PhaseOrigin("c1", 0, t0); !o.Equal(t0) {
		t.Errorf("no interval: got %s, want the moment itself", o)
	}
	// 1,000 clusters registered in the same second: their second rounds
	// (origin + interval) fall in every tenth of the interval, about 100
	// in each, instead of all in one second.
	var buckets [10]int
	for i := range 1000 {
		next := PhaseOrigin(fmt.Sprintf("fleet-%04d", i), iv, t0).Add(iv)
		if !next.After(t0) || next.Sub(t0) > iv {
			t.Fatalf("cluster %d: second round at +%s, want within one interval", i, next.Sub(t0))
		}
		buckets[next.Sub(t0)*10/(iv+1)]++
	}
	for b, n := range buckets {
		if n < 60 || n > 140 {
			t.Errorf("second rounds in tenth %d of the interval: %d of 1000, want about 100 (all: %v)", b, n, buckets)
		}
	}
}

// TestRoundsKeepThePhase: a cluster registered off its phase runs its first
// round at once and its next one at its phase, less than an interval later;
// the rounds after it follow one interval apart.
func TestRoundsKeepThePhase(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.env.SetStartTime(h.start.Add(17 * time.Second)) // 17 s after the phase of c1
	starts := h.sweepStarts()
	h.run(Input{Registration: urlRegistration()}, 170*time.Second)
	want := []time.Duration{17 * time.Second, 60 * time.Second, 120 * time.Second, 180 * time.Second}
	if !slices.Equal(*starts, want) {
		t.Errorf("sweeps after the phase: got %v, want %v", *starts, want)
	}
}

// TestUpdateKeepsThePhase: an update that changes the interval lays the new
// grid on the cluster's phase, its first point at most an interval after the
// last round, not an interval after it.
func TestUpdateKeepsThePhase(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.env.SetStartTime(h.start.Add(17 * time.Second)) // 17 s after the phase of c1
	longer := urlRegistration()
	longer.Interval = 120
	h.at(30*time.Second, func() { h.env.SignalWorkflow(SignalUpdate, UpdateSignal{Registration: longer}) })
	var s Status
	h.at(40*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 50*time.Second)
	// The last round ran at 17 s, on no phase; the 120 s grid's first point
	// after it is the phase's, at 120 s (not 137 s).
	if want := h.start.Add(120 * time.Second); !s.NextRound.Equal(want) {
		t.Errorf("next round after the update: got +%s, want +%s", s.NextRound.Sub(h.start), want.Sub(h.start))
	}
}

// TestCarriedGridMovesOntoThePhase: a run that continues from one whose grid
// started at the registration (17 s off the phase of c1) moves its next
// round onto the phase, less than an interval after the last round, and keeps
// the phase from then on.
func TestCarriedGridMovesOntoThePhase(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	off := h.start.Add(17 * time.Second)
	// The old run's grid: rounds at -43 s and 17 s after the phase.
	st := &State{Enabled: true, GridOrigin: off.Add(-60 * time.Second), LastRound: off.Add(-60 * time.Second), NextRound: off,
		LastSweep: &health.SweepSummary{Nodes: 3, Healthy: 3}, LastSweepTook: time.Second}
	h.env.SetStartTime(off.Add(time.Second)) // the new run starts 1 s after the old grid's round
	starts := h.sweepStarts()
	var s Status
	h.at(5*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration(), State: st}, 150*time.Second)
	// The last round ran at -43 s; the phase's first point after it is 0 s,
	// past, so a round runs at once (18 s), then 60 and 120 s (on the old
	// grid: 18, 77 and 137 s).
	want := []time.Duration{18 * time.Second, 60 * time.Second, 120 * time.Second}
	if !slices.Equal(*starts, want) {
		t.Errorf("sweeps: got %v, want %v", *starts, want)
	}
	if !s.NextRound.Equal(h.start.Add(60 * time.Second)) {
		t.Errorf("next round: got +%s, want +60s", s.NextRound.Sub(h.start))
	}
}

// sweepStarts records when each sweep starts, as a local activity or an
// activity, after the harness's start.
func (h *harness) sweepStarts() *[]time.Duration {
	var starts []time.Duration
	h.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if info.ActivityType.Name == "CheckCluster" {
			starts = append(starts, h.env.Now().Sub(h.start))
		}
	})
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "CheckCluster" {
			starts = append(starts, h.env.Now().Sub(h.start))
		}
	})
	return &starts
}
