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
		if !d.p.SeenBack {
			m.FailedRecoveries = 0
		}
		m.Step = t.Step
		if p := d.step(t.Step).Probation; p > 0 {
			m.ClimbUntil = d.now.Add(time.Duration(p) * time.Second)
		} else {
			m.Step, m.ClimbUntil = 0, time.Time{}
		}
		switch {
		case d.p.Polling && d.p.SeenBack:
			// The action ended; the rounds will tell whether it worked.
			m.Recovered, m.Queued = d.now, false
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
		if d.p.SeenBack {
			m.Recovered = time.Time{} // counted here, not again when it fails
		}
		if !d.p.Legacy {
			r.Decisions = d.tooManyFailed(r.Decisions, t.NodeID, m, fmt.Sprintf("recoveries failed in a row, the last %s", t.Outcome))
		}
	}
	return r
}

// tooManyFailed marks the node as needing a human once its failed
// recoveries in a row reach the limit, and reports it among decisions.
func (d *decider) tooManyFailed(decisions []Decision, id string, m *Memory, what string) []Decision {
	if m.FailedRecoveries < d.p.Safety.FailedRecoveriesLimit() {
		return decisions
	}
	m.NeedsHuman = fmt.Sprintf("%d %s", m.FailedRecoveries, what)
	return append(decisions, Decision{NodeID: id, Action: Change, Reason: ReasonNeedsHuman,
		Detail: "needs a human: " + m.NeedsHuman + "; clear it with starter clear --node " + id})
}

// seenWorking is the node seen working: its recoveries, if any, worked.
func (d *decider) seenWorking(m *Memory) {
	if d.p.SeenBack {
		m.FailedRecoveries, m.Recovered = 0, time.Time{}
	}
}

// failedAgain is the node failing: a recovery that succeeded but was not
// followed by the node working counts as a failed one (Policy.SeenBack).
func (d *decider) failedAgain(decisions []Decision, id string, m *Memory) []Decision {
	if !d.p.SeenBack || m.Recovered.IsZero() {
		return decisions
	}
	m.Recovered = time.Time{}
	m.FailedRecoveries++
	return d.tooManyFailed(decisions, id, m,
		"recoveries in a row did not bring it back, the last succeeded but the node failed again before it was seen working")
}

func (d *decider) step(i int) health.EscalationStep {
	if i >= 0 && i < len(d.p.Ladder) {
		return d.p.Ladder[i]
	}
	return health.EscalationStep{}
}
