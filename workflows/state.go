package workflows

import (
	"time"

	"github.com/clusterhealth/healthd/internal/health"
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
	// Runs counts the runs of this workflow (continue-as-new generations).
	Runs int `json:"runs"`
}

// Counters are cumulative over the workflow's life.
type Counters struct {
	Rounds       int64 `json:"rounds"`
	MissedRounds int64 `json:"missed_rounds"`
	RoundErrors  int64 `json:"round_errors"`
	// Checks counts node verdicts by verdict.
	Healthy   int64 `json:"healthy"`
	Unhealthy int64 `json:"unhealthy"`
	Unknown   int64 `json:"unknown"`
	Skipped   int64 `json:"skipped"`
	// Recoveries by outcome.
	RecoveriesRequested int64 `json:"recoveries_requested"`
	RecoveriesSucceeded int64 `json:"recoveries_succeeded"`
	RecoveriesFailed    int64 `json:"recoveries_failed"`
	RecoveriesTimedOut  int64 `json:"recoveries_timed_out"`
	RecoveriesSkipped   int64 `json:"recoveries_skipped"`
	RecoverSignals      int64 `json:"recover_signals"`
	SignalsIgnored      int64 `json:"signals_ignored"`
}

// NodeState is the last known verdict of a node.
type NodeState struct {
	Name        string         `json:"name"`
	Status      string         `json:"status"`
	Verdict     health.Verdict `json:"verdict"`
	Reason      string         `json:"reason,omitempty"`
	Since       time.Time      `json:"since"`
	LastChecked time.Time      `json:"last_checked"`
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
	// Deadline bounds the wait for the action (node_update_timeout).
	Deadline time.Time `json:"deadline"`
	// ExpectPhysicalID is the physical resource the triggering event named.
	ExpectPhysicalID string `json:"expect_physical_id,omitempty"`
	// Outcome is set once finished: SUCCEEDED, FAILED, CANCELLED, TIMEOUT,
	// SKIPPED or REQUEST_FAILED.
	Outcome  string    `json:"outcome,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
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
	LastRoundError string       `json:"last_round_error,omitempty"`
	RoundRunning   bool         `json:"round_running"`
	Counters       Counters     `json:"counters"`
	Nodes          []NodeStatus `json:"nodes"`
	InFlight       []Recovery   `json:"in_flight"`
	Recent         []Recovery   `json:"recent"`
	Runs           int          `json:"runs"`
}

// NodeStatus is one node in the status query.
type NodeStatus struct {
	ID string `json:"id"`
	NodeState
	Recovering bool `json:"recovering"`
}
