// Package health holds the domain of the cluster health manager: the normalised
// registration a ClusterHealth workflow receives, the engine-contract records it
// reads (clusters, nodes, actions) and the verdicts it reaches about nodes.
//
// It imports no service client (Postgres, AMQP, Temporal, logging), so
// workflows, activities, the store and the bridge can all share it.
package health

import (
	"errors"
	"strings"
	"time"
)

// DetectionType names one way of detecting an unhealthy node (Senlin's
// detection_modes[].type).
type DetectionType string

// Detection types, spelled as in Senlin health policy specs.
const (
	NodeStatusPolling       DetectionType = "NODE_STATUS_POLLING"
	NodeStatusPollURL       DetectionType = "NODE_STATUS_POLL_URL"
	HypervisorStatusPolling DetectionType = "HYPERVISOR_STATUS_POLLING"
	LifecycleEvents         DetectionType = "LIFECYCLE_EVENTS"
)

// IsPolling reports whether the type is checked by polling rounds.
func (t DetectionType) IsPolling() bool {
	switch t {
	case NodeStatusPolling, NodeStatusPollURL, HypervisorStatusPolling:
		return true
	}
	return false
}

// Conditional says how the results of several detection modes combine.
type Conditional string

// Recovery conditionals, spelled as in Senlin.
const (
	// AnyFailed: a node is unhealthy when any mode says so.
	AnyFailed Conditional = "ANY_FAILED"
	// AllFailed: a node is unhealthy only when every mode says so.
	AllFailed Conditional = "ALL_FAILED"
)

// Operation is a node recovery operation.
type Operation string

// Recovery operations accepted by the engine.
const (
	OpReboot   Operation = "REBOOT"
	OpRebuild  Operation = "REBUILD"
	OpRecreate Operation = "RECREATE"
)

// DetectionMode is one normalised detection mode: always the seven Senlin keys.
type DetectionMode struct {
	Type                        DetectionType `json:"type"`
	PollURL                     string        `json:"poll_url"`
	PollURLSSLVerify            bool          `json:"poll_url_ssl_verify"`
	PollURLConnErrorAsUnhealthy bool          `json:"poll_url_conn_error_as_unhealthy"`
	PollURLHealthyResponse      string        `json:"poll_url_healthy_response"`
	// PollURLRetryLimit is the total number of attempts (not retries).
	PollURLRetryLimit int `json:"poll_url_retry_limit"`
	// PollURLRetryInterval is the number of seconds between attempts.
	PollURLRetryInterval int `json:"poll_url_retry_interval"`
}

// Attempts is the total number of URL attempts, at least one.
func (m DetectionMode) Attempts() int { return max(1, m.PollURLRetryLimit) }

// RetryInterval is the pause between URL attempts.
func (m DetectionMode) RetryInterval() time.Duration {
	return time.Duration(m.PollURLRetryInterval) * time.Second
}

// MaxRequestTimeout caps a poll-URL request's timeout: a node that does
// not answer in 30 s is not answering.
const MaxRequestTimeout = 30 * time.Second

// RequestTimeout is Senlin's per-request timeout, max(0.1 * retry interval,
// 1 s), capped at MaxRequestTimeout.
func (m DetectionMode) RequestTimeout() time.Duration {
	return min(max(m.RetryInterval()/10, time.Second), MaxRequestTimeout)
}

// RetrySpan is how long a node's poll-URL attempts can take: the retries'
// spacing and one request's timeout. It must fit within a round's interval.
func (m DetectionMode) RetrySpan() time.Duration {
	return time.Duration(m.Attempts()-1)*m.RetryInterval() + m.RequestTimeout()
}

// RecoveryAction is the one recovery action of a policy.
type RecoveryAction struct {
	Name   Operation      `json:"name"`
	Params map[string]any `json:"params,omitempty"`
}

// Registration is the normalised, validated health policy of one cluster: what
// the ClusterHealth workflow receives and carries across continue-as-new.
// Durations are whole seconds, as in Senlin specs.
type Registration struct {
	ClusterID string `json:"cluster_id"`
	// PolicyVersion is the spec version the registration came from (1.0, 1.1, 1.2).
	PolicyVersion string `json:"policy_version,omitempty"`
	// Interval is the check interval as written in the policy.
	Interval int `json:"interval"`
	// IntervalMax caps Interval (Senlin's check_interval_max); 0 means no cap.
	IntervalMax         int             `json:"check_interval_max,omitempty"`
	NodeUpdateTimeout   int             `json:"node_update_timeout"`
	RecoveryConditional Conditional     `json:"recovery_conditional"`
	DetectionModes      []DetectionMode `json:"detection_modes"`
	Recovery            RecoveryAction  `json:"recover_action"`
	Fencing             []string        `json:"fencing,omitempty"`
	NodeDeleteTimeout   int             `json:"node_delete_timeout"`
	NodeForceRecreate   bool            `json:"node_force_recreate"`
	// WaitTimeout is how long, in seconds, a recovery may run before it is
	// reported overdue (healthd.recovery_wait_timeout); 0 means
	// NodeUpdateTimeout. An overdue recovery is still watched until it ends.
	WaitTimeout int `json:"recovery_wait_timeout,omitempty"`
	// Safety is the remediation safety policy (properties.healthd).
	Safety Safety `json:"safety,omitzero"`
}

// RoundInterval is the effective spacing of polling rounds: the policy interval
// capped by IntervalMax (Senlin's seed behaviour; its final version lost the cap).
func (r Registration) RoundInterval() time.Duration {
	i := r.Interval
	if r.IntervalMax > 0 && i > r.IntervalMax {
		i = r.IntervalMax
	}
	return time.Duration(i) * time.Second
}

// Grace is the time after a node's last update during which it is not judged unhealthy.
func (r Registration) Grace() time.Duration {
	return time.Duration(r.NodeUpdateTimeout) * time.Second
}

// WaitBound is how long a recovery may run before it is reported overdue:
// WaitTimeout, or NodeUpdateTimeout when that is not set (Senlin used the
// grace period for both, F-20).
func (r Registration) WaitBound() time.Duration {
	if r.WaitTimeout > 0 {
		return time.Duration(r.WaitTimeout) * time.Second
	}
	return r.Grace()
}

// WatchesEvents reports whether the registration has a LIFECYCLE_EVENTS
// mode: only then do notifications from the bridge recover its nodes, as in
// Senlin, which listened only for such clusters.
func (r Registration) WatchesEvents() bool {
	_, ok := r.Mode(LifecycleEvents)
	return ok
}

// Polling reports whether the registration runs polling rounds (as opposed to
// LIFECYCLE_EVENTS only).
func (r Registration) Polling() bool {
	for _, m := range r.DetectionModes {
		if !m.Type.IsPolling() {
			return false
		}
	}
	return len(r.DetectionModes) > 0
}

// Mode returns the first detection mode of the given type.
func (r Registration) Mode(t DetectionType) (DetectionMode, bool) {
	for _, m := range r.DetectionModes {
		if m.Type == t {
			return m, true
		}
	}
	return DetectionMode{}, false
}

// RecoverParams builds what a recovery request carries: the operation, its
// params, the fencing, delete_timeout and force_recreate, nothing else.
func (r Registration) RecoverParams() RecoverParams {
	return RecoverParams{
		Operation:       r.Recovery.Name,
		OperationParams: r.Recovery.Params,
		Fencing:         r.Fencing,
		DeleteTimeout:   r.NodeDeleteTimeout,
		ForceRecreate:   r.NodeForceRecreate,
	}
}

// RecoverParams is the parameter set of a NODE_RECOVER action.
type RecoverParams struct {
	Operation       Operation      `json:"operation"`
	OperationParams map[string]any `json:"operation_params,omitempty"`
	// Fencing is the policy's recovery.fencing (Senlin parsed it and dropped
	// it, F-16): what the engine must fence before it recovers the node.
	Fencing       []string `json:"fencing,omitempty"`
	DeleteTimeout int      `json:"delete_timeout"`
	ForceRecreate bool     `json:"force_recreate"`
}

// NodeStatus is the engine's status of a node.
type NodeStatus string

// Node statuses, as in Senlin.
const (
	NodeInit       NodeStatus = "INIT"
	NodeActive     NodeStatus = "ACTIVE"
	NodeError      NodeStatus = "ERROR"
	NodeWarning    NodeStatus = "WARNING"
	NodeCreating   NodeStatus = "CREATING"
	NodeUpdating   NodeStatus = "UPDATING"
	NodeDeleting   NodeStatus = "DELETING"
	NodeRecovering NodeStatus = "RECOVERING"
	NodeOperating  NodeStatus = "OPERATING"
)

// Cluster is a cluster record of the engine contract.
type Cluster struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Project     string `json:"project"`
	User        string `json:"user"`
	ProfileType string `json:"profile_type"`
	// RecoverWebhook is the reference engine's recovery driver: an HTTP URL that
	// receives a POST per recovery.
	// It may carry credentials, so it stays out of activity results,
	// histories and status queries (the engine reads it from the store).
	RecoverWebhook string `json:"-"`
	// StatusURL is the reference engine's status source: an HTTP URL that it
	// reads every few seconds to refresh the physical and hypervisor status of
	// the cluster's nodes. It is the engine's own wiring and may carry
	// credentials, so it stays out of JSON (activity results, workflow
	// histories, status queries).
	StatusURL string `json:"-"`
	// Members says which servers form a cluster of Nova servers, for the
	// openstack driver: empty for the servers whose metadata carries the
	// cluster's ID (as Senlin tags them), server-group:<ID> or
	// heat-stack:<name>/<ID> (see openstack.ParseMembers).
	Members string `json:"members,omitempty"`
}

// Node is a node record of the engine contract.
type Node struct {
	ID           string     `json:"id"`
	ClusterID    string     `json:"cluster_id"`
	Name         string     `json:"name"`
	PhysicalID   string     `json:"physical_id,omitempty"`
	Status       NodeStatus `json:"status"`
	StatusReason string     `json:"status_reason,omitempty"`
	InitAt       time.Time  `json:"init_at"`
	// UpdatedAt is zero when the node never left its first status.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// PhysicalStatus is what the engine last observed of the backing resource
	// (for a Nova server: ACTIVE, SHUTOFF, ERROR, DELETED, ...; for a Heat stack:
	// CREATE_COMPLETE, DELETE_COMPLETE, ...). Empty when unknown.
	PhysicalStatus string `json:"physical_status,omitempty"`
	// HypervisorState and HypervisorStatus are the engine's view of the node's
	// hypervisor ("up"/"down", "enabled"/"disabled"); empty when unknown.
	HypervisorState  string `json:"hypervisor_state,omitempty"`
	HypervisorStatus string `json:"hypervisor_status,omitempty"`
	// PhysicalStatusAt is when the engine last wrote PhysicalStatus (the
	// database stamps every write); zero when it never did. Polling judges
	// the value only while it is fresh (see StatusMaxAge).
	PhysicalStatusAt time.Time `json:"physical_status_at,omitzero"`
	// HypervisorAt is when the engine last wrote HypervisorState or
	// HypervisorStatus; zero when it never did.
	HypervisorAt time.Time `json:"hypervisor_at,omitzero"`
}

// LastUpdate is the reference time of the grace period: UpdatedAt, else InitAt.
func (n Node) LastUpdate() time.Time {
	if !n.UpdatedAt.IsZero() {
		return n.UpdatedAt
	}
	return n.InitAt
}

// ActionStatus is the status of an engine action.
type ActionStatus string

// Action statuses. Terminal: SUCCEEDED, FAILED, CANCELLED.
const (
	ActionReady     ActionStatus = "READY"
	ActionRunning   ActionStatus = "RUNNING"
	ActionSucceeded ActionStatus = "SUCCEEDED"
	ActionFailed    ActionStatus = "FAILED"
	ActionCancelled ActionStatus = "CANCELLED"
)

// Terminal reports whether the status is final.
func (s ActionStatus) Terminal() bool {
	return s == ActionSucceeded || s == ActionFailed || s == ActionCancelled
}

// Outcome is how a recovery ended: the action's terminal status, or why no
// action was asked for or waited for. The workflow's status and timeline, the
// store's health_events and the metrics all name outcomes this way.
type Outcome string

// Outcomes.
const (
	OutcomeSucceeded Outcome = Outcome(ActionSucceeded)
	OutcomeFailed    Outcome = Outcome(ActionFailed)
	OutcomeCancelled Outcome = Outcome(ActionCancelled)
	// OutcomeSkipped: not asked for, because the event was about a physical
	// resource the node no longer has.
	OutcomeSkipped Outcome = "SKIPPED"
	// OutcomeRequestFailed: the action could not be asked for.
	OutcomeRequestFailed Outcome = "REQUEST_FAILED"
	// OutcomeWaitFailed: the action vanished while it was waited for (or, in
	// runs recorded before overdue recoveries were watched, the wait failed).
	OutcomeWaitFailed Outcome = "WAIT_FAILED"
	// OutcomeTimeout: the wait passed its bound and the action was given up;
	// only runs recorded before overdue recoveries were watched to their end
	// have it.
	OutcomeTimeout Outcome = "TIMEOUT"
)

// Outcomes lists every outcome, for metrics labels and documentation.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSucceeded, OutcomeFailed, OutcomeCancelled, OutcomeSkipped,
		OutcomeRequestFailed, OutcomeWaitFailed, OutcomeTimeout}
}

// OutcomeOf is the outcome of a recovery whose action ended with status s.
func OutcomeOf(s ActionStatus) Outcome { return Outcome(s) }

// Label is the outcome in lower case, as metrics labels and the timeline's
// "recovery <outcome>" verdicts spell it.
func (o Outcome) Label() string { return strings.ToLower(string(o)) }

// ActionNodeRecover is the only action this project asks the engine for.
const ActionNodeRecover = "NODE_RECOVER"

// Action is an action record of the engine contract.
type Action struct {
	ID             string        `json:"id"`
	IdempotencyKey string        `json:"idempotency_key"`
	ClusterID      string        `json:"cluster_id"`
	NodeID         string        `json:"node_id"`
	Action         string        `json:"action"`
	Params         RecoverParams `json:"params"`
	Status         ActionStatus  `json:"status"`
	Reason         string        `json:"reason,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	// ClaimedBy names the executor worker that claimed the action last; empty
	// while it was never claimed.
	ClaimedBy string `json:"claimed_by,omitempty"`
	// Attempts counts the claims of the action. More than one means it was
	// reclaimed: a claimer stopped renewing its lease (it crashed or lost the
	// database) and another executor took the action over.
	Attempts int `json:"attempts,omitempty"`
	// AbandonedBy names the claimer whose expired lease the last reclaim took
	// over; empty when the action was never reclaimed.
	AbandonedBy string `json:"abandoned_by,omitempty"`
	// LeaseUntil is when the current claim expires unless its executor renews
	// it; zero while the action was never claimed.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// Verdict is the outcome of checking one node with one mode, or combined.
type Verdict string

// Verdicts.
const (
	Healthy   Verdict = "healthy"
	Unhealthy Verdict = "unhealthy"
	// Unknown: the check could not run. Counted and shown, never recovers.
	Unknown Verdict = "unknown"
	// Skipped: the node is not ACTIVE, so it is not judged.
	Skipped Verdict = "skipped"
)

// HealthEvent is one entry of the durable incident timeline.
type HealthEvent struct {
	ClusterID string    `json:"cluster_id"`
	NodeID    string    `json:"node_id"`
	At        time.Time `json:"at"`
	From      Verdict   `json:"from"`
	To        Verdict   `json:"to"`
	Reason    string    `json:"reason,omitempty"`
	ActionID  string    `json:"action_id,omitempty"`
}

// NovaServerProfile is the profile type of a cluster of Nova servers
// (Senlin's os.nova.server-1.0): the clusters the openstack driver keeps.
const NovaServerProfile = "os.nova.server-1.0"

// Sources of recover requests, as RecoverSignal.Source and Recovery.Source
// spell them.
const (
	// SourcePoll: a polling round found the node unhealthy.
	SourcePoll = "poll"
	// SourceNova and SourceHeat: a lifecycle notification, through the bridge.
	SourceNova = "nova"
	SourceHeat = "heat"
	// SourceOperator: an operator asked (starter recover).
	SourceOperator = "operator"
	// SourceSignal: a recover signal that named no source.
	SourceSignal = "signal"
)

// FromNotification reports whether the request came from a lifecycle
// notification (through the signal bridge) rather than from an engine or an
// operator.
func (s RecoverSignal) FromNotification() bool {
	return s.Source == SourceNova || s.Source == SourceHeat
}

// StackID returns the stack id of a Heat stack identity. Heat notifications
// name a stack by its ARN, arn:openstack:heat::<tenant>:stacks/<name>/<id>
// (or the same path in a URL), while an engine records a stack node's
// physical_id as the bare id. Anything that is not such an identity is
// returned unchanged.
func StackID(identity string) string {
	_, path, ok := strings.Cut(identity, "stacks/")
	if !ok {
		return identity
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 2 || parts[len(parts)-1] == "" {
		return identity
	}
	return parts[1]
}

// SamePhysicalResource reports whether two physical ids name the same
// resource: equal, or the same Heat stack when either is a stack identity.
func SamePhysicalResource(a, b string) bool {
	return a == b || StackID(a) == StackID(b)
}

// RecoverSignal asks a cluster's workflow to recover one node; it comes from the
// signal bridge (a lifecycle notification) or from an operator.
type RecoverSignal struct {
	NodeID     string `json:"node_id"`
	Event      string `json:"event,omitempty"`
	State      string `json:"state,omitempty"`
	PhysicalID string `json:"physical_id,omitempty"`
	Publisher  string `json:"publisher,omitempty"`
	// Timestamp is the notification's own timestamp, as published.
	Timestamp string `json:"timestamp,omitempty"`
	// MessageID deduplicates redelivered notifications.
	MessageID string `json:"message_id,omitempty"`
	// Project is the notification context's project; empty from operators.
	Project string `json:"project,omitempty"`
	// Source says where the request came from: "nova", "heat", "operator", ...
	Source string `json:"source,omitempty"`
}

// ErrNotFound is wrapped by lookups of records that do not exist.
var ErrNotFound = errors.New("not found")

// ErrLeaseLost is wrapped by the engine contract's lease operations when an
// action is no longer RUNNING under the caller's claim: another executor
// reclaimed it after the lease expired, or it was finished.
var ErrLeaseLost = errors.New("action lease lost")

// ProbeResult is the outcome of one poll-URL attempt against one node.
type ProbeResult struct {
	// Healthy is the verdict of the attempt, after poll_url_conn_error_as_unhealthy
	// has been applied to connection errors.
	Healthy bool `json:"healthy"`
	// ConnError is set when the attempt failed before a 2xx body could be read:
	// bad scheme, transport error, non-2xx status, oversized body.
	ConnError bool `json:"conn_error,omitempty"`
	// StatusCode is the HTTP status, 0 when none was received.
	StatusCode int `json:"status_code,omitempty"`
	// ConfigError is set when the attempt could not be made as configured:
	// the mode itself could not be applied (an invalid
	// poll_url_healthy_response, which policy validation rejects, so a
	// registration that bypassed validation), or the address policy refused
	// the address or a redirect. Nothing was learnt about the node, so the
	// check is unknown.
	ConfigError bool `json:"config_error,omitempty"`
	// Detail explains the verdict in a few words, for logs and the UI.
	Detail string `json:"detail,omitempty"`
}
