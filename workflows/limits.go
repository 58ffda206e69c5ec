package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/health"
)

// Limits are the health worker's bounds on the interval of every registration
// it runs, however the registration arrived (the starter, the Go client, a raw
// signal or start): Senlin's health_check_interval_min and
// check_interval_max. Zero fields set no bound.
type Limits struct {
	// IntervalMin is the smallest round interval, in seconds
	// (HEALTH_CHECK_INTERVAL_MIN): a registration asking for less runs at it.
	IntervalMin int
	// IntervalMax caps the round interval, in seconds (CHECK_INTERVAL_MAX).
	IntervalMax int
}

// New returns the ClusterHealth workflow of a worker that enforces lim;
// register it under WorkflowName. The limits change only timer durations, so
// a worker started with other limits still replays every history.
func New(lim Limits) func(workflow.Context, Input) error {
	return func(ctx workflow.Context, in Input) error { return clusterHealthWorkflow(ctx, in, lim) }
}

// apply returns the registration as it runs under the limits, and a sentence
// saying what they changed (empty when nothing).
func (l Limits) apply(r health.Registration) (health.Registration, string) {
	var note string
	if l.IntervalMin > 0 && r.Interval < l.IntervalMin {
		note = fmt.Sprintf("interval %d s is below the worker's HEALTH_CHECK_INTERVAL_MIN of %d s; rounds run every %d s",
			r.Interval, l.IntervalMin, l.IntervalMin)
		r.Interval = l.IntervalMin
	}
	if l.IntervalMax > 0 && (r.IntervalMax == 0 || r.IntervalMax > l.IntervalMax) {
		r.IntervalMax = l.IntervalMax
		if r.Interval > l.IntervalMax {
			note = fmt.Sprintf("interval %d s is above the worker's CHECK_INTERVAL_MAX of %d s; rounds run every %d s",
				r.Interval, l.IntervalMax, l.IntervalMax)
		}
	}
	return r, note
}
