// Package triage decides, for each node of a cluster, whether it is recovered
// now, held back, or changes state (unhealthy, healthy again, quarantined,
// needs a human): every recover-or-not rule of healthd in one place.
//
// It is pure: Decide reads no clock, does no I/O and imports no SDK. The
// ClusterHealth workflow keeps the memory (a Cluster), passes the facts and
// the trigger (a round's verdicts, a recover request, a finished recovery, an
// operator's answer), and carries out the decisions. Every rule is a table
// test in this package; the tests are the specification.
package triage

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// Policy is what the rules read of a registration.
type Policy struct {
	// Safety is the registration's properties.healthd.
	Safety health.Safety
	// Ladder is the escalation ladder in effect (Registration.Ladder).
	Ladder []health.EscalationStep
	// Polling tells whether rounds run: without them a recovered node is
	// taken as healthy once its recovery succeeds.
	Polling bool
	// WatchesEvents tells whether the policy has LIFECYCLE_EVENTS.
	WatchesEvents bool
	// Legacy turns off every rule that runs recorded before this package
	// existed did not have (max-unhealthy, the failed-recovery limit, the
	// lifecycle-events gate is LifecycleGate), so they replay the same.
	Legacy bool
	// LifecycleGate applies the LIFECYCLE_EVENTS rule to notifications.
	LifecycleGate bool
	// Bursts turns on the rules of runs recorded since bursts are judged
	// together: a Burst trigger, a Back trigger that ends a node's failure,
	// a recovered node of a cluster without rounds that counts toward
	// max_unhealthy until it is seen back (or Safety.Confirm passes), and
	// requests for an event older than the node's last recovery ignored.
	Bursts bool
	// SuccessHold holds a node that passes its checks again, until it has
	// passed success_threshold of them, instead of recovering it again; and
	// a round weighs against max_unhealthy every node the memory holds
	// unhealthy, as requests and retries do, not only those of the round.
	SuccessHold bool
}

// PolicyFor is the policy of a registration for a run of generation gen:
// the rule switches are the generation's.
func PolicyFor(reg health.Registration, gen Generation) Policy {
	return Policy{Safety: reg.Safety, Ladder: reg.Ladder(), Polling: reg.Polling(), WatchesEvents: reg.WatchesEvents(),
		Legacy: gen.Legacy(), LifecycleGate: !gen.Legacy(), Bursts: gen.Bursts(), SuccessHold: gen >= GenSuccessHold}
}

// Memory is what the workflow remembers of one node between decisions. A
// plainly healthy node needs none (Empty), so a healthy cluster costs no
// memory per node.
type Memory struct {
	// Failures counts consecutive unhealthy verdicts; Successes consecutive
	// healthy ones while the node counts as unhealthy.
	Failures  int `json:"failures,omitempty"`
	Successes int `json:"successes,omitempty"`
	// Unhealthy: the node crossed the failure threshold and has not yet
	// crossed the success threshold back.
	Unhealthy bool `json:"unhealthy,omitempty"`
	// FailingSince is when its current run of failures started.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Changes are the times it turned unhealthy or healthy, inside the flap
	// window.
	Changes []time.Time `json:"changes,omitempty"`
	// Quarantined: it flapped; it is reported, not recovered, until stable.
	Quarantined bool `json:"quarantined,omitempty"`
	// Step is the ladder step its next recovery uses, and ClimbUntil the end
	// of the probation of its last successful one: failing again before it
	// climbs to the next step.
	Step       int       `json:"step,omitempty"`
	ClimbUntil time.Time `json:"climb_until,omitzero"`
	// FailedRecoveries counts its recoveries that failed in a row.
	FailedRecoveries int `json:"failed_recoveries,omitempty"`
	// NeedsHuman says why no more automatic recovery happens until an
	// operator clears it; empty while it does not.
	NeedsHuman string `json:"needs_human,omitempty"`
	// Maintenance, while set and not expired, holds checks' consequences for
	// the node back.
	Maintenance *Pause `json:"maintenance,omitempty"`
	// Approval is the recovery waiting for an operator's answer.
	Approval *Approval `json:"approval,omitempty"`
	// Queued: its recovery waits its turn (max_unhealthy, the cap, the
	// budget); Retry decides again for such nodes only.
	Queued bool `json:"queued,omitempty"`
	// Requested is when its last recovery was asked for (Policy.Bursts): a
	// request for an event older than that is about the failure it
	// recovered.
	Requested time.Time `json:"requested,omitzero"`
	// Recovered is when its last recovery succeeded, in a cluster without
	// rounds, while nothing has said it is back: it still counts toward
	// max_unhealthy until then, or until Safety.Confirm has passed.
	Recovered time.Time `json:"recovered,omitzero"`
}

// Empty reports whether there is nothing to remember of the node.
func (m *Memory) Empty() bool {
	return m.Failures == 0 && m.Successes == 0 && !m.Unhealthy && len(m.Changes) == 0 && !m.Quarantined &&
		m.Step == 0 && m.ClimbUntil.IsZero() && m.FailedRecoveries == 0 && m.NeedsHuman == "" &&
		m.Maintenance == nil && m.Approval == nil && !m.Queued && m.Requested.IsZero() && m.Recovered.IsZero()
}

// Pause holds something back until Until (zero: until lifted on purpose).
type Pause struct {
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
}

// Active reports whether the pause still holds at now.
func (p *Pause) Active(now time.Time) bool {
	return p != nil && (p.Until.IsZero() || now.Before(p.Until))
}

// Approval is a recovery waiting for an operator's approve or deny.
type Approval struct {
	Operation health.Operation `json:"operation"`
	Step      int              `json:"step"`
	Since     time.Time        `json:"since"`
	Until     time.Time        `json:"until"`
	// Source and Reason are those of the request it answers.
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Cluster is the workflow's memory of a cluster: the nodes that need memory
// and the recovery budget.
type Cluster struct {
	Nodes map[string]*Memory `json:"nodes,omitempty"`
	// Tokens is the budget's bucket, as of TokensAt.
	Tokens   float64   `json:"tokens,omitempty"`
	TokensAt time.Time `json:"tokens_at,omitzero"`
}

func (c *Cluster) node(id string) *Memory {
	if c.Nodes == nil {
		c.Nodes = map[string]*Memory{}
	}
	m := c.Nodes[id]
	if m == nil {
		m = &Memory{}
		c.Nodes[id] = m
	}
	return m
}

// tidy forgets the nodes with nothing to remember.
func (c *Cluster) tidy() {
	for id, m := range c.Nodes {
		if m.Empty() {
			delete(c.Nodes, id)
		}
	}
}

// Facts are what the workflow knows of the cluster at the time of a decision.
type Facts struct {
	// Nodes is the number of nodes of the cluster.
	Nodes int
	// InFlight maps the nodes with a recovery in flight to its action (or "").
	InFlight map[string]string
	// Paused, when set, says why checks and recoveries are paused.
	Paused string
	// Project is the cluster's project, when known.
	Project string
}

// Verdict is one node's final verdict of a round.
type Verdict struct {
	NodeID  string
	Verdict health.Verdict
	Reason  string
}

// Request asks for the recovery of one node, from a notification, the engine
// or an operator.
type Request struct {
	NodeID string
	Source string
	// Reason says what happened, for the recovery record.
	Reason string
	// Notification: it came through the signal bridge.
	Notification bool
	// Duplicate: its message ID was seen before.
	Duplicate bool
	// Project is the notification's project, empty from operators.
	Project string
	// At is when the event happened, by its own timestamp (zero: unknown).
	At time.Time
	// NotMember: the engine contract has no such node in the cluster (the
	// workflow asked before deciding). Such a request is dropped, so that
	// requests for made-up nodes never count toward max_unhealthy.
	NotMember bool
	// Invalid says which input rule the request breaks (a raw signal
	// cannot be refused, only dropped); empty when it breaks none. See
	// Admit.
	Invalid string
}

// Admit is the first rule a raw recover or node-back request meets, before
// it is deduplicated or collected into a settle window: one that breaks
// the input rules is dropped (ReasonInvalid) and counted with the rule it
// breaks. A request with no node ID goes on, to be ignored as such; runs
// of GenLegacy admit every request.
func Admit(p Policy, r Request) (Decision, bool) {
	if r.Invalid == "" || r.NodeID == "" || p.Legacy {
		return Decision{}, true
	}
	return Decision{NodeID: r.NodeID, Action: Ignore, Reason: ReasonInvalid, Detail: r.Invalid}, false
}

// Burst is the recover requests and node-back words received within one
// settle window, in the order they came: judged together, so that an outage
// that arrives as many events counts against max_unhealthy as one.
type Burst struct {
	Events []BurstEvent
}

// BurstEvent is a Request, or, when Back is set, a node-back word.
type BurstEvent struct {
	Request
	Back bool
}

// Back is a word that a node is back (Nova says its server is active again,
// Heat that its stack is complete, the engine that the node itself works):
// for a cluster without rounds, the end of its failure. Its fields are a
// Request's.
type Back struct {
	Request
}

// Finished reports the end of a recovery.
type Finished struct {
	NodeID  string
	Outcome health.Outcome
	Step    int
}

// Answer is an operator's approve or deny of a waiting recovery.
type Answer struct {
	NodeID  string
	Approve bool
	By      string
	Reason  string
	// Timeout: no operator answered in time; the policy's approval default
	// (Safety.ApprovalDefault) decides, and Approve is not read.
	Timeout bool
}

// Clear is an operator clearing a node that needs a human, or is
// quarantined, so that automatic recovery resumes.
type Clear struct {
	NodeID string
	By     string
	Reason string
}

// Maintain puts a node in maintenance (Pause set) or takes it out (nil).
type Maintain struct {
	NodeID string
	Pause  *Pause
}

// Left says that nodes the memory holds are no longer members of the
// cluster: they are forgotten, and count toward nothing.
type Left struct {
	NodeIDs []string
}

// Retry decides again for the nodes that count as unhealthy and have no
// recovery in flight: for a cluster without rounds, after something changed
// (a recovery ended, an operator cleared a node) that may let one go ahead.
type Retry struct{}

// Trigger is one of Round, Request, Burst, Back, Finished, Answer, Clear,
// Maintain, Left or Retry.
type Trigger interface{ trigger() }

// Round is the final verdicts of a polling round that started at Start, in
// sweep order.
type Round struct {
	Start    time.Time
	Verdicts []Verdict
}

func (Round) trigger()    {}
func (Request) trigger()  {}
func (Finished) trigger() {}
func (Answer) trigger()   {}
func (Clear) trigger()    {}
func (Maintain) trigger() {}
func (Retry) trigger()    {}
func (Burst) trigger()    {}
func (Back) trigger()     {}
func (Left) trigger()     {}

// Action is what a decision does.
type Action string

// Actions.
const (
	// Recover asks the engine for a recovery (or, in dry-run, records that
	// it would).
	Recover Action = "recover"
	// Hold does not recover the node now; Reason says why.
	Hold Action = "hold"
	// Ignore drops a recover request.
	Ignore Action = "ignore"
	// AwaitApproval waits for an operator's approve or deny.
	AwaitApproval Action = "await_approval"
	// Change reports a change of the node's state (Reason says which).
	Change Action = "change"
)

// Reason kinds: what metrics count and tests match; Detail says it for people.
const (
	ReasonUnhealthy        = "unhealthy"
	ReasonBelowSuccess     = "below_success_threshold"
	ReasonNoNodeID         = "no_node_id"
	ReasonInvalid          = "invalid_request"
	ReasonDuplicate        = "duplicate_message_id"
	ReasonPaused           = "disabled"
	ReasonOtherProject     = "other_project"
	ReasonInFlight         = "already_recovering"
	ReasonNoLifecycle      = "no_lifecycle_events"
	ReasonMaxUnhealthy     = "max_unhealthy"
	ReasonMaxInFlight      = "max_in_flight"
	ReasonBudget           = "budget"
	ReasonNeedsHuman       = "needs_human"
	ReasonMaintenance      = "maintenance"
	ReasonQuarantined      = "quarantined"
	ReasonAwaitingApproval = "awaiting_approval"
	ReasonApproved         = "approved"
	ReasonDenied           = "denied"
	ReasonHealthyAgain     = "healthy_again"
	ReasonReleased         = "released"
	ReasonCleared          = "cleared"
	ReasonBelowThreshold   = "below_failure_threshold"
	ReasonMerged           = "merged_in_burst"
	ReasonStale            = "stale_event"
	ReasonBackInBurst      = "back_within_burst"
	ReasonTakenAsBack      = "taken_as_back"
	ReasonNotMember        = "not_a_member"
	ReasonLeft             = "left_the_cluster"
)

// Decision is what happens to one node, and why.
type Decision struct {
	NodeID    string           `json:"node_id"`
	Action    Action           `json:"action"`
	Operation health.Operation `json:"operation,omitempty"`
	// Step is the ladder step of a recovery (0 is the first).
	Step int `json:"step,omitempty"`
	// DryRun: the recovery is recorded, not requested.
	DryRun bool `json:"dry_run,omitempty"`
	// Reason is a kind (the Reason* constants); Detail a sentence.
	Reason string `json:"reason"`
	Detail string `json:"detail"`
	// FailingSince is when the node's failure was first seen.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Recovering, on a cluster hold, lists the nodes already recovering (or
	// recovered and not yet seen back) when it was decided, the first 20 by
	// ID: they were let through while the cluster was within max_unhealthy,
	// and count toward it.
	Recovering []string `json:"recovering,omitempty"`
}

// Result is everything one trigger decided.
type Result struct {
	// Decisions are per node, in the trigger's order.
	Decisions []Decision
	// Hold, when set, says why the whole cluster gets no recovery now.
	Hold *Decision
	// Gated: the trigger weighed the cluster against max_unhealthy, so Hold
	// is the cluster's hold now (nil: none), not only this trigger's.
	Gated bool
}

// Decide applies the rules to one trigger. It updates c, the workflow's
// memory, and returns the decisions; it reads no clock (now is given) and does
// no I/O.
func Decide(p Policy, c *Cluster, f Facts, t Trigger, now time.Time) Result {
	d := decider{p: p, c: c, f: f, now: now}
	expired := d.expire()
	var r Result
	switch t := t.(type) {
	case Round:
		r = d.round(t)
	case Request:
		r = d.request(t)
	case Finished:
		r = d.finished(t)
	case Answer:
		r = d.answer(t)
	case Clear:
		r = d.clear(t)
	case Maintain:
		r = d.maintain(t)
	case Retry:
		r = d.retry()
	case Burst:
		r = d.burst(t)
	case Back:
		r = d.back(t)
	case Left:
		r = d.left(t)
	}
	if len(expired) > 0 {
		r.Decisions = append(expired, r.Decisions...)
	}
	c.tidy()
	return r
}

// NextConfirm is when the earliest recovered node that nobody has said is
// back will be taken as back (zero: none waits): a decision at that time
// (Retry) lets the cluster's hold lift.
func NextConfirm(p Policy, c *Cluster) time.Time {
	var next time.Time
	if !p.Bursts || p.Polling {
		return next
	}
	for _, m := range c.Nodes {
		if m.Recovered.IsZero() {
			continue
		}
		if at := m.Recovered.Add(p.Safety.Confirm()); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// expire takes the recovered nodes whose confirmation time has passed as
// back: nothing said otherwise.
func (d *decider) expire() []Decision {
	if !d.p.Bursts || d.p.Polling {
		return nil
	}
	var out []Decision
	for _, id := range slices.Sorted(maps.Keys(d.c.Nodes)) {
		m := d.c.Nodes[id]
		if m.Recovered.IsZero() || d.now.Before(m.Recovered.Add(d.p.Safety.Confirm())) || d.inFlight(id) {
			continue
		}
		out = append(out, Decision{NodeID: id, Action: Change, Reason: ReasonTakenAsBack, Detail: fmt.Sprintf(
			"taken as back: recovered %s ago, nothing said otherwise (confirm_timeout %s)",
			d.now.Sub(m.Recovered).Truncate(time.Second), d.p.Safety.Confirm())})
		d.mend(m)
	}
	return out
}

// mend ends a node's failure.
func (d *decider) mend(m *Memory) {
	m.Unhealthy, m.Failures, m.Successes, m.FailingSince = false, 0, 0, time.Time{}
	m.Queued, m.Recovered, m.Requested = false, time.Time{}, time.Time{}
}

type decider struct {
	p       Policy
	c       *Cluster
	f       Facts
	now     time.Time
	granted int // recoveries decided by this trigger
}

func (d *decider) round(t Round) Result {
	var r Result
	var candidates []int // indexes into r.Decisions of unhealthy nodes
	comingBack := 0      // unhealthy nodes that passed this round's check
	for _, v := range t.Verdicts {
		m := d.c.node(v.NodeID)
		was := m.Unhealthy
		switch v.Verdict {
		case health.Unhealthy:
			if m.Failures == 0 {
				m.FailingSince = t.Start
			}
			m.Failures++
			m.Successes = 0
			if !m.Unhealthy && m.Failures >= d.p.Safety.Failures() {
				m.Unhealthy = true
			}
		case health.Healthy:
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
		d.node(dec, d.c.node(dec.NodeID), dec.Detail, health.SourcePoll)
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

// node applies the per-node rules to an unhealthy node: in flight, needs a
// human, maintenance, approval, quarantine, escalation, cap, budget, then
// approval or recovery.
func (d *decider) node(dec *Decision, m *Memory, reason, source string) {
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

// screen applies the rules that drop a request (or, with back, a node-back
// word) before it is weighed: ok false with the decision that drops it.
func (d *decider) screen(t Request, back bool) (Decision, bool) {
	dec := Decision{NodeID: t.NodeID, Action: Ignore}
	ignore := func(reason, detail string) (Decision, bool) {
		dec.Reason, dec.Detail = reason, detail
		return dec, false
	}
	switch {
	case t.NodeID == "":
		return ignore(ReasonNoNodeID, "no node id")
	case t.Duplicate:
		return ignore(ReasonDuplicate, "duplicate message id")
	case back && t.Project != "" && d.f.Project != "" && t.Project != d.f.Project:
		return ignore(ReasonOtherProject, "project "+t.Project+" is not the cluster's")
	case back:
		return dec, true
	case d.f.Paused != "":
		return ignore(ReasonPaused, "health checks are disabled: "+d.f.Paused)
	case t.Project != "" && d.f.Project != "" && t.Project != d.f.Project:
		return ignore(ReasonOtherProject, "project "+t.Project+" is not the cluster's")
	case t.NotMember:
		return ignore(ReasonNotMember, "no node "+t.NodeID+" in the cluster")
	case d.inFlight(t.NodeID):
		return ignore(ReasonInFlight, "node is already recovering")
	case t.Notification && d.p.LifecycleGate && !d.p.WatchesEvents:
		return ignore(ReasonNoLifecycle, fmt.Sprintf("a %s notification, but the cluster's policy has no LIFECYCLE_EVENTS detection mode", t.Source))
	}
	if m := d.c.Nodes[t.NodeID]; d.p.Bursts && m != nil && !t.At.IsZero() && !m.Requested.IsZero() && t.At.Before(m.Requested) {
		return ignore(ReasonStale, fmt.Sprintf("the event (at %s) is older than the node's last recovery, asked for at %s",
			t.At.UTC().Format(time.RFC3339Nano), m.Requested.UTC().Format(time.RFC3339Nano)))
	}
	return dec, true
}

// fail marks the node of an accepted request unhealthy.
func (d *decider) fail(t Request) *Memory {
	m := d.c.node(t.NodeID)
	if !m.Unhealthy {
		m.Unhealthy, m.Failures, m.Successes = true, max(m.Failures, d.p.Safety.Failures()), 0
		if m.FailingSince.IsZero() {
			m.FailingSince = d.now
			if d.p.Bursts && !t.At.IsZero() && t.At.Before(d.now) {
				m.FailingSince = t.At
			}
		}
	}
	m.Recovered = time.Time{} // failed again
	return m
}

// unhealthy counts the nodes that count toward max_unhealthy: unhealthy,
// recovering, or recovered and not yet seen back.
func (d *decider) unhealthy() int {
	n := 0
	for _, m := range d.c.Nodes {
		if m.Unhealthy {
			n++
		}
	}
	return n
}

func (d *decider) request(t Request) Result {
	if dec, ok := d.screen(t, false); !ok {
		return Result{Decisions: []Decision{dec}}
	}
	m := d.fail(t)
	dec := Decision{NodeID: t.NodeID, Action: Ignore, FailingSince: m.FailingSince}
	var r Result
	if !d.p.Legacy {
		r.Gated = d.p.Bursts
		if hold := d.clusterHold(d.unhealthy()); hold != nil {
			dec.Action, dec.Reason, dec.Detail = Hold, hold.Reason, hold.Detail
			m.Queued = hold.Reason == ReasonMaxUnhealthy
			r.Hold = hold
			r.Decisions = []Decision{dec}
			return r
		}
	}
	d.node(&dec, m, t.Reason, t.Source)
	r.Decisions = []Decision{dec}
	return r
}

// burst judges the requests of one settle window together: the nodes of
// the accepted requests, with those already unhealthy, recovering or not yet
// seen back, are weighed against max_unhealthy at once, as a round's are. A
// request for a node already in the window is merged into the first; a node
// said to be back after its request needs no recovery.
func (d *decider) burst(t Burst) Result {
	var r Result
	var accepted []Request
	at := map[string]int{} // node -> index into accepted, while it stands
	for _, e := range t.Events {
		if e.Back {
			if i, ok := at[e.NodeID]; ok {
				if dec, ok := d.screen(e.Request, true); !ok {
					r.Decisions = append(r.Decisions, dec)
					continue
				}
				delete(at, e.NodeID)
				accepted[i].NodeID = "" // dropped
				r.Decisions = append(r.Decisions, Decision{NodeID: e.NodeID, Action: Ignore, Reason: ReasonBackInBurst,
					Detail: "back before the burst was judged (" + e.Reason + "): no recovery needed"})
				continue
			}
			r.Decisions = append(r.Decisions, d.back(Back{e.Request}).Decisions...)
			continue
		}
		if dec, ok := d.screen(e.Request, false); !ok {
			r.Decisions = append(r.Decisions, dec)
			continue
		}
		if _, ok := at[e.NodeID]; ok {
			r.Decisions = append(r.Decisions, Decision{NodeID: e.NodeID, Action: Ignore, Reason: ReasonMerged,
				Detail: "one request with an earlier one for the node in the same burst"})
			continue
		}
		at[e.NodeID] = len(accepted)
		accepted = append(accepted, e.Request)
	}
	accepted = slices.DeleteFunc(accepted, func(q Request) bool { return q.NodeID == "" })
	// The nodes held before wait their turn with the burst's, first.
	var queued []Request
	for _, id := range d.queued() {
		if _, ok := at[id]; !ok {
			queued = append(queued, Request{NodeID: id, Reason: "retried after an earlier hold"})
		}
	}
	accepted = append(queued, accepted...)
	if len(accepted) == 0 {
		return r
	}
	mems := make([]*Memory, len(accepted))
	for i, q := range accepted {
		mems[i] = d.fail(q)
	}
	var hold *Decision
	if !d.p.Legacy {
		r.Gated = true
		hold = d.clusterHold(d.unhealthy())
		r.Hold = hold
	}
	for i, q := range accepted {
		dec := Decision{NodeID: q.NodeID, Action: Hold, FailingSince: mems[i].FailingSince}
		if hold != nil {
			dec.Reason, dec.Detail = hold.Reason, hold.Detail
			mems[i].Queued = hold.Reason == ReasonMaxUnhealthy
		} else {
			d.node(&dec, mems[i], q.Reason, q.Source)
		}
		r.Decisions = append(r.Decisions, dec)
	}
	return r
}

// back ends the failure of a node of a cluster without rounds on a word that
// it is back; with rounds, they judge.
func (d *decider) back(t Back) Result {
	if dec, ok := d.screen(t.Request, true); !ok {
		return Result{Decisions: []Decision{dec}}
	}
	m := d.c.Nodes[t.NodeID]
	if d.p.Polling || m == nil || !m.Unhealthy {
		return Result{}
	}
	d.mend(m)
	m.Approval = nil
	return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonHealthyAgain,
		Detail: "back: " + t.Reason}}}
}

// left forgets the nodes that are no longer members: an unhealthy one stops
// counting toward max_unhealthy.
func (d *decider) left(t Left) Result {
	var r Result
	for _, id := range t.NodeIDs {
		if _, ok := d.c.Nodes[id]; !ok {
			continue
		}
		delete(d.c.Nodes, id)
		r.Decisions = append(r.Decisions, Decision{NodeID: id, Action: Change, Reason: ReasonLeft,
			Detail: "no longer a node of the cluster: forgotten"})
	}
	return r
}

// queued lists the unhealthy nodes that wait their turn and have no
// recovery in flight (a failed recovery is not retried here), in the order
// they started failing.
func (d *decider) queued() []string {
	var ids []string
	for id, m := range d.c.Nodes {
		if m.Unhealthy && m.Queued && !d.inFlight(id) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := d.c.Nodes[a].FailingSince.Compare(d.c.Nodes[b].FailingSince); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}

func (d *decider) retry() Result {
	var r Result
	ids := d.queued()
	r.Gated = d.p.Bursts && !d.p.Legacy
	if len(ids) == 0 {
		return r
	}
	hold := d.clusterHold(d.unhealthy())
	r.Hold = hold
	for _, id := range ids {
		m := d.c.Nodes[id]
		dec := Decision{NodeID: id, Action: Hold, FailingSince: m.FailingSince}
		if hold != nil {
			dec.Reason, dec.Detail = hold.Reason, hold.Detail
		} else {
			d.node(&dec, m, "retried after an earlier hold", "")
		}
		r.Decisions = append(r.Decisions, dec)
	}
	return r
}

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

func (d *decider) answer(t Answer) Result {
	m := d.c.node(t.NodeID)
	ap := m.Approval
	dec := Decision{NodeID: t.NodeID, Action: Ignore, Reason: ReasonAwaitingApproval, Detail: "no recovery is waiting for approval"}
	if ap == nil {
		return Result{Decisions: []Decision{dec}}
	}
	m.Approval = nil
	who, approve := t.By, t.Approve
	if t.Timeout {
		who, approve = "default after the approval timed out", d.p.Safety.ApprovalDefault() == health.Approve
	}
	if !approve {
		m.NeedsHuman = fmt.Sprintf("%s denied by %s%s", ap.Operation, who, because(t.Reason))
		dec.Action, dec.Reason, dec.Detail = Change, ReasonDenied, "needs a human: "+m.NeedsHuman
		return Result{Decisions: []Decision{dec}}
	}
	if d.inFlight(t.NodeID) {
		d.holdInFlight(&dec)
		return Result{Decisions: []Decision{dec}}
	}
	d.recover(&dec, m, ap.Operation, ap.Step, fmt.Sprintf("approved by %s%s: %s", who, because(t.Reason), ap.Reason))
	dec.Reason = ReasonApproved
	return Result{Decisions: []Decision{dec}}
}

func (d *decider) clear(t Clear) Result {
	m := d.c.node(t.NodeID)
	was := []string{}
	if m.NeedsHuman != "" {
		was = append(was, "needed a human ("+m.NeedsHuman+")")
	}
	if m.Quarantined {
		was = append(was, "quarantined")
	}
	m.NeedsHuman, m.Quarantined, m.Changes, m.FailedRecoveries, m.Step, m.ClimbUntil = "", false, nil, 0, 0, time.Time{}
	m.Approval = nil
	detail := "cleared by " + orSomeone(t.By) + because(t.Reason)
	if len(was) > 0 {
		detail += "; it " + strings.Join(was, " and ")
	}
	return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonCleared, Detail: detail}}}
}

func (d *decider) maintain(t Maintain) Result {
	m := d.c.node(t.NodeID)
	m.Maintenance = t.Pause
	if t.Pause == nil {
		return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonMaintenance, Detail: "maintenance ended"}}}
	}
	return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonMaintenance,
		Detail: "in maintenance" + pauseDetail(t.Pause)}}}
}

func pauseDetail(p *Pause) string {
	s := ""
	if p.By != "" {
		s += " by " + p.By
	}
	s += because(p.Reason)
	if p.Until.IsZero() {
		return s + ", until lifted"
	}
	return s + ", until " + p.Until.UTC().Format(time.RFC3339)
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

func orSomeone(who string) string {
	if who == "" {
		return "an operator"
	}
	return who
}
