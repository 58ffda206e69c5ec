package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/clusterhealth/healthd/activities"
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
