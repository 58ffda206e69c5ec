package workflows

import (
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Input is the input of the ClusterHealth workflow.
type Input struct {
	Registration health.Registration `json:"registration"`
	// Disabled starts the workflow with checks off (a policy attached with its
	// binding disabled); an enable signal starts them.
	Disabled bool `json:"disabled,omitempty"`
	// State is carried across continue-as-new; nil on the first run.
	State *State `json:"state,omitempty"`
	// MaxRoundsPerRun continues as new after this many rounds even if the
	// server does not suggest it (0: only when suggested).
	MaxRoundsPerRun int `json:"max_rounds_per_run,omitempty"`
}

// State is everything a run carries into the next one.
type State struct {
	Enabled bool `json:"enabled"`
	// EnabledNote says who turned checks on or off, and why.
	EnabledNote string `json:"enabled_note,omitempty"`
	// DisabledUntil, when set, is the end of a disable lease.
	DisabledUntil time.Time `json:"disabled_until,omitzero"`
	// GridOrigin is the start of the round grid; rounds start at origin + k*interval.
	GridOrigin time.Time `json:"grid_origin,omitzero"`
	// NextRound is when the next round is due (zero: none scheduled).
	NextRound time.Time `json:"next_round,omitzero"`
	// LastRound is when the last round started.
	LastRound time.Time `json:"last_round,omitzero"`
	// LastRoundError is why the last round failed; empty after a round that
	// ran. The node verdicts are then those of the last round that ran.
	LastRoundError string   `json:"last_round_error,omitempty"`
	Counters       Counters `json:"counters"`
	// Nodes is the last verdict per node ID.
	Nodes map[string]*NodeState `json:"nodes,omitempty"`
	// InFlight holds the recoveries not finished yet, by node ID.
	InFlight map[string]*Recovery `json:"in_flight,omitempty"`
	// Incidents numbers each node's recoveries; the number is part of the
	// idempotency key of the recovery request.
	Incidents map[string]int64 `json:"incidents,omitempty"`
	// SeenMessages is the dedupe window of recover-signal message IDs, oldest first.
	SeenMessages []string `json:"seen_messages,omitempty"`
	// MissingRounds counts consecutive rounds that found no cluster record.
	MissingRounds int `json:"missing_rounds,omitempty"`
	// Cluster is the engine's record, as last seen.
	Cluster health.Cluster `json:"cluster"`
	// Recent lists the latest finished recoveries, newest last.
	Recent []Recovery `json:"recent,omitempty"`
	// Epoch tells this registration from earlier ones of the same cluster in
	// recovery idempotency keys.
	Epoch string `json:"epoch,omitempty"`
	// LastIgnored is the latest recover request that was not acted on.
	LastIgnored *IgnoredRequest `json:"last_ignored,omitempty"`
	// Triage is the decision core's memory: the nodes that need one (a
	// plainly healthy node has none) and the recovery budget.
	Triage triage.Cluster `json:"triage,omitzero"`
	// Decisions holds the last decision about each node that is not plainly
	// healthy.
	Decisions map[string]*NodeDecision `json:"decisions,omitempty"`
	// Hold is the cluster-wide hold in force (max-unhealthy), if any.
	Hold *NodeDecision `json:"hold,omitempty"`
	// NodeCount is the cluster's node count as last seen.
	NodeCount int `json:"node_count,omitempty"`
	// LastSweep counts the last sweep's verdicts of every node, when it
	// named only its exceptions (Nodes then holds only the nodes that are not
	// plainly healthy).
	LastSweep *health.SweepSummary `json:"last_sweep,omitempty"`
	// LastSweepTook is how long the last sweep took (by the activity).
	LastSweepTook time.Duration `json:"last_sweep_took,omitempty"`
	// Pauses are the cluster's pauses by requester: checks and recoveries
	// resume only when none is left.
	Pauses map[string]*triage.Pause `json:"pauses,omitempty"`
	// Runs counts the runs of this workflow (continue-as-new generations).
	Runs int `json:"runs"`
	// Burst is the settle window open now, if any: the recover requests and
	// node-back words collected to be judged together.
	Burst *Burst `json:"burst,omitempty"`
}

// Burst is an open settle window: from the first recover request (or
// node-back word) until Until, when everything it collected is judged at
// once. Later requests do not extend it.
type Burst struct {
	Since  time.Time    `json:"since"`
	Until  time.Time    `json:"until"`
	Events []BurstEvent `json:"events"`
}

// BurstEvent is one recover signal, or node-back signal when Back is set,
// collected by a burst.
type BurstEvent struct {
	Signal RecoverSignal `json:"signal"`
	Back   bool          `json:"back,omitempty"`
	// Duplicate: its message ID was seen before.
	Duplicate bool      `json:"duplicate,omitempty"`
	Received  time.Time `json:"received"`
}

// Counters are cumulative over the workflow's life.
type Counters struct {
	Rounds       int64 `json:"rounds"`
	MissedRounds int64 `json:"missed_rounds"`
	RoundErrors  int64 `json:"round_errors"`
	// Healthy, Unhealthy, Unknown and Skipped count the final node verdicts
	// of the rounds (after the URL retries and the grace period).
	Healthy   int64 `json:"healthy"`
	Unhealthy int64 `json:"unhealthy"`
	Unknown   int64 `json:"unknown"`
	Skipped   int64 `json:"skipped"`
	// Recoveries by outcome.
	RecoveriesRequested int64 `json:"recoveries_requested"`
	RecoveriesSucceeded int64 `json:"recoveries_succeeded"`
	RecoveriesFailed    int64 `json:"recoveries_failed"`
	// RecoveriesTimedOut counts recoveries that passed their wait bound. Such
	// a recovery stays in flight, overdue, until its action ends, and then
	// counts under its real outcome too.
	RecoveriesTimedOut int64 `json:"recoveries_timed_out"`
	RecoveriesSkipped  int64 `json:"recoveries_skipped"`
	RecoverSignals     int64 `json:"recover_signals"`
	SignalsIgnored     int64 `json:"signals_ignored"`
	// NodeBackSignals counts the node-back signals received.
	NodeBackSignals int64 `json:"node_back_signals,omitempty"`
	// Bursts counts the settle windows judged.
	Bursts int64 `json:"bursts,omitempty"`
	// SignalsIgnoredBy counts the ignored recover requests by reason (a
	// triage reason kind).
	SignalsIgnoredBy map[string]int64 `json:"signals_ignored_by,omitempty"`
	// SignalsDropped counts the enable and disable signals dropped: fields
	// that break the input rules, or a pause beyond MaxPauses.
	SignalsDropped int64 `json:"signals_dropped,omitempty"`
}

// IgnoredRequest is a recover request that was not acted on, and why.
type IgnoredRequest struct {
	At     time.Time `json:"at"`
	NodeID string    `json:"node_id,omitempty"`
	Source string    `json:"source,omitempty"`
	Event  string    `json:"event,omitempty"`
	// Reason is a triage reason kind, such as triage.ReasonDuplicate.
	Reason string `json:"reason"`
	// Detail says it in a sentence.
	Detail string `json:"detail"`
}

// NodeState is the last known verdict of a node.
type NodeState struct {
	Name        string         `json:"name"`
	Status      string         `json:"status"`
	Verdict     health.Verdict `json:"verdict"`
	Reason      string         `json:"reason,omitempty"`
	Since       time.Time      `json:"since"`
	LastChecked time.Time      `json:"last_checked"`
	// InGrace: its checks failed, but it is within its grace period.
	InGrace bool `json:"in_grace,omitempty"`
}

// NodeDecision is the decision core's last decision about a node (or, as
// State.Hold, about the whole cluster), and when it was made.
type NodeDecision struct {
	triage.Decision
	At time.Time `json:"at"`
}

// Recovery is one recovery, in flight or finished.
type Recovery struct {
	NodeID    string    `json:"node_id"`
	NodeName  string    `json:"node_name,omitempty"`
	Key       string    `json:"key"`
	ActionID  string    `json:"action_id,omitempty"`
	Source    string    `json:"source"`
	Reason    string    `json:"reason,omitempty"`
	Requested time.Time `json:"requested"`
	// Detected is when the failure was first seen: the start of the node's
	// first failed round, or the notification's own timestamp.
	Detected time.Time `json:"detected,omitzero"`
	// Deadline is when the recovery is due to have ended: the request plus
	// the registration's wait bound. After it the recovery is overdue, and
	// still watched until its action ends.
	Deadline time.Time `json:"deadline"`
	// Overdue is set once the action has outlived Deadline.
	Overdue bool `json:"overdue,omitempty"`
	// Operation is what the recovery asks for (the escalation step's), and
	// Step its place on the ladder (0 is the first).
	Operation health.Operation `json:"operation,omitempty"`
	Step      int              `json:"step,omitempty"`
	// ExpectPhysicalID is the physical resource the triggering event named.
	ExpectPhysicalID string `json:"expect_physical_id,omitempty"`
	// Outcome is set once finished.
	Outcome  health.Outcome `json:"outcome,omitempty"`
	Detail   string         `json:"detail,omitempty"`
	Finished time.Time      `json:"finished,omitzero"`
}

// Status is the answer to the status query.
type Status struct {
	ClusterID     string              `json:"cluster_id"`
	Registration  health.Registration `json:"registration"`
	Enabled       bool                `json:"enabled"`
	EnabledNote   string              `json:"enabled_note,omitempty"`
	DisabledUntil time.Time           `json:"disabled_until,omitzero"`
	State         string              `json:"state"`
	NextRound     time.Time           `json:"next_round,omitzero"`
	LastRound     time.Time           `json:"last_round,omitzero"`
	// LastRoundError is why the last round failed, if it did.
	LastRoundError string `json:"last_round_error,omitempty"`
	// LimitsNote says how the worker's interval limits changed the
	// registration's interval, when they did.
	LimitsNote string `json:"limits_note,omitempty"`
	// LastIgnored is the latest recover request that was not acted on.
	LastIgnored *IgnoredRequest `json:"last_ignored,omitempty"`
	// Hold says why the whole cluster gets no recovery now, if it does not.
	Hold *NodeDecision `json:"hold,omitempty"`
	// Decisions are the last decisions about the nodes that are not plainly
	// healthy, by node ID.
	Decisions []NodeDecision `json:"decisions"`
	// Pauses are the cluster's pauses in force, by requester.
	Pauses map[string]*triage.Pause `json:"pauses,omitempty"`
	// NodeCount is the cluster's node count; Nodes lists only the nodes that
	// are not plainly healthy when LastSweep is set (every node's last check
	// is in the store: starter status --all-nodes).
	NodeCount    int                  `json:"node_count"`
	LastSweep    *health.SweepSummary `json:"last_sweep,omitempty"`
	RoundRunning bool                 `json:"round_running"`
	Counters     Counters             `json:"counters"`
	Nodes        []NodeStatus         `json:"nodes"`
	InFlight     []Recovery           `json:"in_flight"`
	Recent       []Recovery           `json:"recent"`
	Runs         int                  `json:"runs"`
	// Burst is the settle window open now, if any.
	Burst *Burst `json:"burst,omitempty"`
	// Rules names the generation of rules this run keeps
	// (triage.Generation): runs started before a generation keep the older
	// rules until they continue as new. Empty from workers that predate it.
	Rules string `json:"rules,omitempty"`
}

// NodeStatus is one node in the status query.
type NodeStatus struct {
	ID string `json:"id"`
	NodeState
	Recovering bool `json:"recovering"`
}
