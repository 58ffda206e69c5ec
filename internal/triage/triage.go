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
	// SeenBack: a successful recovery leaves the node's count of failed
	// recoveries as it was until the node is seen working (a round judges
	// it healthy outside its grace period, or, without rounds, it is said
	// or taken to be back); failing again before that counts as one more
	// failed recovery. A round that started before the node's recovery
	// ended does not judge the node; nor does an event that happened
	// before it ended.
	SeenBack bool
}

// PolicyFor is the policy of a registration for a run of generation gen:
// the rule switches are the generation's.
func PolicyFor(reg health.Registration, gen Generation) Policy {
	return Policy{Safety: reg.Safety, Ladder: reg.Ladder(), Polling: reg.Polling(), WatchesEvents: reg.WatchesEvents(),
		Legacy: gen == GenLegacy, LifecycleGate: gen > GenLegacy, Bursts: gen >= GenBursts, SuccessHold: gen >= GenSuccessHold,
		SeenBack: gen >= GenSeenBack}
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
	// Recovered is when its last recovery succeeded, while the node has not
	// been seen working since. In a cluster without rounds it still counts
	// toward max_unhealthy until something says it is back, or until
	// Safety.Confirm has passed. With Policy.SeenBack (rounds or not),
	// failing again before it is seen working counts as a failed recovery.
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
	// InGrace: healthy only because the node changed within its grace
	// period (its checks failed): not seen working.
	InGrace bool
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

// Admit is the first rule a raw recover (or, with back, node-back) request
// meets, before it is deduplicated or collected into a settle window: one
// that breaks the input rules is dropped (ReasonInvalid) and counted with
// the rule it breaks. A node-back word with no node ID is dropped as such; a
// recover request with none goes on, to be ignored as such by the rules
// that weigh it. Runs of GenLegacy admit every request.
func Admit(p Policy, r Request, back bool) (Decision, bool) {
	switch {
	case r.Invalid == "" || p.Legacy:
		return Decision{}, true
	case r.NodeID == "" && back:
		return Decision{Action: Ignore, Reason: ReasonNoNodeID, Detail: "no node id"}, false
	case r.NodeID == "":
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
	ReasonBeforeRecovery   = "checked_before_recovery"
	ReasonNotJudged        = "not_judged_since_recovery"
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
	d.seenWorking(m)
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
