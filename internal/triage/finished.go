package triage

import (
	"fmt"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// The rules of a finished recovery: escalation, probation, the
// failed-recovery limit.

func (d *decider) finished(t Finished) Result {
	m := d.c.node(t.NodeID)
	var r Result
	switch t.Outcome {
	case health.OutcomeSkipped:
	case health.OutcomeSucceeded:
		m.FailedRecoveries = 0
		m.Step = t.Step
		if p := d.step(t.Step).Probation; p > 0 {
			m.ClimbUntil = d.now.Add(time.Duration(p) * time.Second)
		} else {
			m.Step, m.ClimbUntil = 0, time.Time{}
		}
		switch {
		case d.p.Polling:
		case d.p.Bursts && m.Unhealthy:
			// The action ended; the node itself is not seen back yet.
			m.Recovered, m.Queued = d.now, false
		default:
			m.Unhealthy, m.Failures, m.Successes, m.FailingSince = false, 0, 0, time.Time{}
		}
	default:
		m.FailedRecoveries++
		m.ClimbUntil = time.Time{}
		m.Step = min(t.Step+1, len(d.p.Ladder)-1) // a failed recovery climbs
		if !d.p.Legacy && m.FailedRecoveries >= d.p.Safety.FailedRecoveriesLimit() {
			m.NeedsHuman = fmt.Sprintf("%d recoveries failed in a row, the last %s", m.FailedRecoveries, t.Outcome)
			r.Decisions = append(r.Decisions, Decision{NodeID: t.NodeID, Action: Change, Reason: ReasonNeedsHuman,
				Detail: "needs a human: " + m.NeedsHuman + "; clear it with starter clear --node " + t.NodeID})
		}
	}
	return r
}

func (d *decider) step(i int) health.EscalationStep {
	if i >= 0 && i < len(d.p.Ladder) {
		return d.p.Ladder[i]
	}
	return health.EscalationStep{}
}
