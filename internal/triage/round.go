package triage

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// The rules of a round's verdicts: thresholds, flapping, max-unhealthy,
// then each unhealthy node's own rules (unhealthyNode), shared with the
// other triggers.

func (d *decider) round(t Round) Result {
	var r Result
	var candidates []int // indexes into r.Decisions of unhealthy nodes
	comingBack := 0      // unhealthy nodes that passed this round's check
	for _, v := range t.Verdicts {
		m := d.c.node(v.NodeID)
		if d.p.SeenBack && t.Start.Before(m.Recovered) {
			// The sweep began before the recovery ended: its checks are of
			// the node as it was.
			r.Decisions = append(r.Decisions, Decision{NodeID: v.NodeID, Action: Hold, Reason: ReasonBeforeRecovery,
				Detail: fmt.Sprintf("checked from %s, before its recovery ended at %s: the next round judges it",
					t.Start.UTC().Format(time.RFC3339Nano), m.Recovered.UTC().Format(time.RFC3339Nano)),
				FailingSince: m.FailingSince})
			continue
		}
		was := m.Unhealthy
		switch v.Verdict {
		case health.Unhealthy:
			r.Decisions = d.failedAgain(r.Decisions, v.NodeID, m)
			if m.Failures == 0 {
				m.FailingSince = t.Start
			}
			m.Failures++
			m.Successes = 0
			if !m.Unhealthy && m.Failures >= d.p.Safety.Failures() {
				m.Unhealthy = true
			}
		case health.Healthy:
			if !v.InGrace {
				d.seenWorking(m)
			}
			if m.Unhealthy {
				m.Successes++
				if m.Successes >= d.p.Safety.Successes() {
					m.Unhealthy, m.Successes = false, 0
				}
			}
			if !m.Unhealthy {
				m.Failures, m.FailingSince = 0, time.Time{}
			}
		}
		if ch, ok := d.flap(v.NodeID, m, was != m.Unhealthy); ok {
			r.Decisions = append(r.Decisions, ch)
		}
		if was && !m.Unhealthy {
			m.Requested = time.Time{}
			r.Decisions = append(r.Decisions, Decision{NodeID: v.NodeID, Action: Change, Reason: ReasonHealthyAgain,
				Detail: fmt.Sprintf("healthy again after %d healthy rounds", d.p.Safety.Successes())})
		}
		if !m.ClimbUntil.IsZero() && !d.now.Before(m.ClimbUntil) && !m.Unhealthy {
			m.Step, m.ClimbUntil = 0, time.Time{} // probation passed: a new failure starts over
		}
		switch {
		case m.Unhealthy && v.Verdict == health.Healthy && d.p.SuccessHold:
			// Passing its checks again: it counts as unhealthy until it
			// has passed enough of them, but a recovery now would hit a
			// node that works.
			comingBack++
			r.Decisions = append(r.Decisions, Decision{NodeID: v.NodeID, Action: Hold, Reason: ReasonBelowSuccess,
				Detail:       fmt.Sprintf("healthy %d of %d rounds needed before it counts as healthy again", m.Successes, d.p.Safety.Successes()),
				FailingSince: m.FailingSince})
		case m.Unhealthy && d.p.SeenBack && !m.Recovered.IsZero():
			// Recovered, and not judged since (its status unknown, or it
			// is not ACTIVE): a recovery now would act on nothing seen.
			r.Decisions = append(r.Decisions, Decision{NodeID: v.NodeID, Action: Hold, Reason: ReasonNotJudged,
				Detail: fmt.Sprintf("recovered at %s, not judged since (%s: %s)",
					m.Recovered.UTC().Format(time.RFC3339), v.Verdict, v.Reason), FailingSince: m.FailingSince})
		case m.Unhealthy:
			candidates = append(candidates, len(r.Decisions))
			r.Decisions = append(r.Decisions, Decision{NodeID: v.NodeID, Action: Hold, Reason: ReasonUnhealthy,
				Detail: v.Reason, FailingSince: m.FailingSince})
		case v.Verdict == health.Unhealthy:
			r.Decisions = append(r.Decisions, Decision{NodeID: v.NodeID, Action: Hold, Reason: ReasonBelowThreshold,
				Detail: fmt.Sprintf("failed %d of %d rounds needed before it counts as unhealthy: %s",
					m.Failures, d.p.Safety.Failures(), v.Reason), FailingSince: m.FailingSince})
		}
	}
	if len(candidates) == 0 {
		return r
	}
	unhealthy := len(candidates) + comingBack // the nodes of this round
	if d.p.SuccessHold {
		unhealthy = d.unhealthy() // the one count requests and retries use too
	}
	if hold := d.clusterHold(unhealthy); hold != nil {
		r.Hold = hold
		for _, i := range candidates {
			if id := r.Decisions[i].NodeID; !d.inFlight(id) {
				r.Decisions[i].Reason, r.Decisions[i].Detail = hold.Reason, hold.Detail
				d.c.node(id).Queued = hold.Reason == ReasonMaxUnhealthy
				continue
			}
			d.holdInFlight(&r.Decisions[i])
		}
		return r
	}
	// Nodes wait their turn for the cap and the budget in the order they
	// started failing.
	order := slices.Clone(candidates)
	slices.SortStableFunc(order, func(a, b int) int {
		return r.Decisions[a].FailingSince.Compare(r.Decisions[b].FailingSince)
	})
	for _, i := range order {
		dec := &r.Decisions[i]
		d.unhealthyNode(dec, d.c.node(dec.NodeID), dec.Detail, health.SourcePoll)
	}
	return r
}

// maxNamed bounds the nodes a hold names, so that its record stays small
// whatever the cluster's size.
const maxNamed = 20

// clusterHold is the max-unhealthy short-circuit, and a pause.
func (d *decider) clusterHold(unhealthy int) *Decision {
	if d.f.Paused != "" {
		return &Decision{Action: Hold, Reason: ReasonPaused, Detail: d.f.Paused}
	}
	if d.p.Legacy {
		return nil
	}
	if d.f.Nodes <= 0 {
		return nil // the cluster's size is not known yet
	}
	nodes := max(d.f.Nodes, unhealthy)
	allowed := d.p.Safety.AllowedUnhealthy(nodes)
	if unhealthy <= allowed {
		return nil
	}
	limit := d.p.Safety.MaxUnhealthy
	if limit == "" {
		limit = health.DefaultMaxUnhealthy
	}
	hold := &Decision{Action: Hold, Reason: ReasonMaxUnhealthy, Detail: fmt.Sprintf(
		"held: %d of %d unhealthy, above max_unhealthy %s (at most %d); recoveries resume once the cluster is back under it",
		unhealthy, nodes, limit, allowed)}
	if d.p.Bursts {
		more := 0
		for _, id := range slices.Sorted(maps.Keys(d.c.Nodes)) {
			if m := d.c.Nodes[id]; m.Unhealthy && (d.inFlight(id) || !m.Recovered.IsZero()) {
				if len(hold.Recovering) < maxNamed {
					hold.Recovering = append(hold.Recovering, id)
				} else {
					more++
				}
			}
		}
		if len(hold.Recovering) > 0 {
			hold.Detail += fmt.Sprintf("; counted among them, let through while the cluster was within the limit and still recovering or not yet seen back: %s",
				strings.Join(hold.Recovering, ", "))
			if more > 0 {
				hold.Detail += fmt.Sprintf(" and %d more", more)
			}
		}
	}
	return hold
}

func (d *decider) inFlight(id string) bool {
	_, ok := d.f.InFlight[id]
	return ok
}

func (d *decider) holdInFlight(dec *Decision) {
	dec.Action, dec.Reason = Hold, ReasonInFlight
	dec.Detail = "already recovering"
	if a := d.f.InFlight[dec.NodeID]; a != "" {
		dec.Detail += " (action " + a + ")"
	}
}

// unhealthyNode applies the per-node rules to an unhealthy node: in flight, needs a
// human, maintenance, approval, quarantine, escalation, cap, budget, then
// approval or recovery.
func (d *decider) unhealthyNode(dec *Decision, m *Memory, reason, source string) {
	dec.Action = Hold
	switch {
	case d.inFlight(dec.NodeID):
		d.holdInFlight(dec)
		return
	case m.NeedsHuman != "":
		dec.Reason, dec.Detail = ReasonNeedsHuman, "needs a human: "+m.NeedsHuman+"; clear it with starter clear --node "+dec.NodeID
		return
	case m.Maintenance.Active(d.now):
		dec.Reason, dec.Detail = ReasonMaintenance, "in maintenance"+pauseDetail(m.Maintenance)
		return
	case m.Approval != nil:
		dec.Reason, dec.Detail = ReasonAwaitingApproval, fmt.Sprintf("waiting for approval of %s until %s",
			m.Approval.Operation, m.Approval.Until.UTC().Format(time.RFC3339))
		dec.Operation, dec.Step = m.Approval.Operation, m.Approval.Step
		return
	case m.Quarantined:
		dec.Reason, dec.Detail = ReasonQuarantined, fmt.Sprintf("quarantined for flapping: reported, not recovered, until its verdict holds for %ds", d.p.Safety.Flap.Stable)
		return
	}
	if m.Maintenance != nil {
		m.Maintenance = nil // expired
	}
	step := m.Step
	if !m.ClimbUntil.IsZero() && d.now.Before(m.ClimbUntil) {
		step++ // failed again within the probation of its last recovery
	}
	if step >= len(d.p.Ladder) {
		last := d.p.Ladder[len(d.p.Ladder)-1]
		m.NeedsHuman = fmt.Sprintf("failed again within the %ds probation of the last escalation step (%s)", last.Probation, last.Operation)
		dec.Reason, dec.Detail = ReasonNeedsHuman, "needs a human: "+m.NeedsHuman+"; clear it with starter clear --node "+dec.NodeID
		return
	}
	op := d.p.Ladder[step].Operation
	if c := d.p.Safety.MaxInFlight; c > 0 && len(d.f.InFlight)+d.granted >= c {
		m.Queued = true
		dec.Reason, dec.Detail = ReasonMaxInFlight, fmt.Sprintf("waiting its turn: %d recoveries in flight, max_in_flight %d",
			len(d.f.InFlight)+d.granted, c)
		return
	}
	if b := d.p.Safety.Budget; b.Recoveries > 0 {
		d.refill()
		if d.c.Tokens < 1 {
			m.Queued = true
			per := time.Duration(b.Window) * time.Second / time.Duration(b.Recoveries)
			next := d.now.Add(time.Duration((1 - d.c.Tokens) * float64(per)))
			dec.Reason, dec.Detail = ReasonBudget, fmt.Sprintf("waiting its turn: the budget of %d recoveries per %ds is spent; the next is due at %s",
				b.Recoveries, b.Window, next.UTC().Format(time.RFC3339))
			return
		}
		d.c.Tokens--
	}
	d.granted++
	m.Queued = false
	dec.Operation, dec.Step = op, step
	if d.p.Safety.NeedsApproval(op) {
		m.Approval = &Approval{Operation: op, Step: step, Since: d.now, Until: d.now.Add(d.p.Safety.ApprovalWait()),
			Source: source, Reason: reason}
		dec.Action, dec.Reason = AwaitApproval, ReasonAwaitingApproval
		dec.Detail = fmt.Sprintf("%s needs an operator's approval (starter approve|deny --node %s) by %s, else %s",
			op, dec.NodeID, m.Approval.Until.UTC().Format(time.RFC3339), d.p.Safety.ApprovalDefault())
		return
	}
	d.recover(dec, m, op, step, reason)
}

func (d *decider) recover(dec *Decision, m *Memory, op health.Operation, step int, reason string) {
	if d.p.Bursts {
		m.Requested = d.now
	}
	dec.Action, dec.Operation, dec.Step, dec.DryRun = Recover, op, step, d.p.Safety.DryRun
	dec.Reason = ReasonUnhealthy
	dec.Detail = reason
	if len(d.p.Ladder) > 1 {
		dec.Detail = fmt.Sprintf("escalation step %d of %d (%s): %s", step+1, len(d.p.Ladder), op, reason)
	}
	if dec.DryRun {
		dec.Detail = "dry run, not requested: " + dec.Detail
	}
}

// refill adds the tokens earned since the bucket was last seen.
func (d *decider) refill() {
	b := d.p.Safety.Budget
	full := float64(b.Recoveries)
	if d.c.TokensAt.IsZero() {
		d.c.Tokens, d.c.TokensAt = full, d.now
		return
	}
	elapsed := d.now.Sub(d.c.TokensAt)
	d.c.Tokens = min(full, d.c.Tokens+full*elapsed.Seconds()/float64(b.Window))
	d.c.TokensAt = d.now
}

// flap records a change of the node's counted verdict and quarantines or
// releases it; it returns the state change to report, if any.
func (d *decider) flap(id string, m *Memory, changed bool) (Decision, bool) {
	fl := d.p.Safety.Flap
	if fl.Changes <= 0 {
		m.Changes = nil
		return Decision{}, false
	}
	window := time.Duration(fl.Window) * time.Second
	if changed {
		m.Changes = append(m.Changes, d.now)
	}
	last := time.Time{}
	if n := len(m.Changes); n > 0 {
		last = m.Changes[n-1]
	}
	m.Changes = slices.DeleteFunc(m.Changes, func(t time.Time) bool { return d.now.Sub(t) > window })
	switch {
	case !m.Quarantined && len(m.Changes) > fl.Changes:
		m.Quarantined = true
		return Decision{NodeID: id, Action: Change, Reason: ReasonQuarantined, Detail: fmt.Sprintf(
			"quarantined: changed verdict %d times within %ds (more than %d); reported, not recovered, until stable for %ds",
			len(m.Changes), fl.Window, fl.Changes, fl.Stable)}, true
	case m.Quarantined && !last.IsZero() && d.now.Sub(last) >= time.Duration(fl.Stable)*time.Second:
		m.Quarantined, m.Changes = false, nil
		return Decision{NodeID: id, Action: Change, Reason: ReasonReleased, Detail: fmt.Sprintf(
			"released from quarantine: its verdict held for %ds", fl.Stable)}, true
	}
	return Decision{}, false
}
