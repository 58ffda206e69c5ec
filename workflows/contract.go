// Package workflows holds the ClusterHealth workflow and its wire contract:
// task queue, workflow IDs, signal, query and search attribute names.
package workflows

import (
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// TaskQueue is the task queue of the ClusterHealth workflow and its activities.
const TaskQueue = "cluster-health"

// WorkflowName is the registered name of the ClusterHealth workflow.
const WorkflowName = "ClusterHealth"

// workflowIDPrefix prefixes every ClusterHealth workflow ID.
const workflowIDPrefix = "cluster-health/"

// WorkflowID is the ID of the ClusterHealth workflow of a cluster: one per cluster.
func WorkflowID(clusterID string) string { return workflowIDPrefix + clusterID }

// ClusterIDFromWorkflowID is the inverse of WorkflowID.
func ClusterIDFromWorkflowID(id string) (string, bool) {
	return strings.CutPrefix(id, workflowIDPrefix)
}

// Signal names. Registered names are wire contracts: never rename them.
const (
	SignalEnable     = "enable"
	SignalDisable    = "disable"
	SignalRecover    = "recover"
	SignalUpdate     = "update"
	SignalUnregister = "unregister"
	// SignalNodeBack says a node is back (Nova's server is active again,
	// Heat's stack complete, or the engine's word that the node itself
	// works): for a cluster without rounds, the end of its failure. It
	// carries a RecoverSignal. Runs recorded before it ignore it.
	SignalNodeBack = "node-back"
)

// ErrTypeNotMember is the error type of an update about a node the
// cluster does not have.
const ErrTypeNotMember = "NotMember"

// QueryStatus is the name of the status query.
const QueryStatus = "status"

// Update names: operator decisions that answer at once, with the decision
// they led to, and are refused (with the field named) when invalid.
const (
	// UpdateApprove and UpdateDeny answer a recovery waiting for approval.
	UpdateApprove = "approve"
	UpdateDeny    = "deny"
	// UpdateClear lets automatic recovery of a node that needs a human (or is
	// quarantined) resume.
	UpdateClear = "clear"
	// UpdateMaintain starts or ends a node's maintenance.
	UpdateMaintain = "maintain"
)

// NodeRequest is the input of the approve, deny and clear updates.
type NodeRequest struct {
	NodeID    string `json:"node_id"`
	Requester string `json:"requester,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// MaintainRequest is the input of the maintain update.
type MaintainRequest struct {
	NodeID    string `json:"node_id"`
	Requester string `json:"requester,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// ForSeconds bounds the maintenance; 0 means the policy's pause_max
	// unless Indefinite.
	ForSeconds int  `json:"for_seconds,omitempty"`
	Indefinite bool `json:"indefinite,omitempty"`
	// End ends the node's maintenance instead.
	End bool `json:"end,omitempty"`
}

// UpdateResult is what an operator update decided.
type UpdateResult struct {
	Decision triage.Decision `json:"decision"`
}

// Search attributes that keep the Temporal UI useful for a fleet.
var (
	SAClusterID      = temporal.NewSearchAttributeKeyKeyword("ClusterId")
	SAHealthEnabled  = temporal.NewSearchAttributeKeyBool("HealthEnabled")
	SAHealthState    = temporal.NewSearchAttributeKeyKeyword("HealthState")
	SAUnhealthyNodes = temporal.NewSearchAttributeKeyInt64("UnhealthyNodes")
)

// SearchAttributes lists every custom search attribute the workflow sets, so a
// dev server or an operator can register them.
func SearchAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		SAClusterID.ValueSet(""),
		SAHealthEnabled.ValueSet(false),
		SAHealthState.ValueSet(""),
		SAUnhealthyNodes.ValueSet(0),
	)
}

// Metrics the workflow emits through the SDK's metrics handler (the worker's
// client maps them onto its Prometheus registry; the SDK drops them while a
// workflow replays). Tag keys are the Tag* constants.
const (
	// MetricRounds counts polling rounds that finished, ran or failed.
	MetricRounds = "healthd_rounds"
	// MetricChecks counts final node verdicts (after confirmation and grace),
	// by TagVerdict.
	MetricChecks = "healthd_checks"
	// MetricRecoveries counts finished recoveries, by TagOutcome
	// (health.Outcome.Label).
	MetricRecoveries = "healthd_recoveries"
	// MetricRecoveriesOverdue counts recoveries that outlived their wait bound.
	MetricRecoveriesOverdue = "healthd_recoveries_overdue"
	// MetricDetectionToRecovery times a successful recovery from the first
	// failed check (or the notification's timestamp) to the action's end.
	MetricDetectionToRecovery = "healthd_detection_to_recovery"
	// MetricSignalsIgnored counts recover requests not acted on, by TagReason.
	MetricSignalsIgnored = "healthd_signals_ignored"
	// MetricDecisions counts the decision core's changes of decision (a node
	// held, quarantined, needing a human, a cluster hold), by TagAction and
	// TagReason.
	MetricDecisions = "healthd_decisions"

	TagVerdict = "verdict"
	TagOutcome = "outcome"
	TagReason  = "reason"
	TagAction  = "action"
)

// EnableSignal turns checks on.
// Checks resume only when no requester's pause is left: an enable lifts the
// pause of its own requester (an empty requester's, the anonymous one), or
// every pause with All.
type EnableSignal struct {
	Requester string `json:"requester,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// All lifts every requester's pause (an operator's override).
	All bool `json:"all,omitempty"`
}

// DisableSignal turns checks off, optionally only for ForSeconds.
type DisableSignal struct {
	Requester string `json:"requester,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// ForSeconds, when positive, makes the disable a lease: checks resume by
	// themselves once it has passed (measured from when the workflow receives
	// the signal). Without it the pause lasts the policy's pause_max (a day by
	// default) unless Indefinite.
	ForSeconds int `json:"for_seconds,omitempty"`
	// Indefinite makes a pause without ForSeconds last until lifted.
	Indefinite bool `json:"indefinite,omitempty"`
}

// RecoverSignal asks for the recovery of one node.
type RecoverSignal = health.RecoverSignal

// UpdateSignal replaces the registration with a new, validated one.
type UpdateSignal struct {
	Registration health.Registration `json:"registration"`
}

// UnregisterSignal ends the workflow cleanly.
type UnregisterSignal struct {
	Requester string `json:"requester,omitempty"`
	Reason    string `json:"reason,omitempty"`
}
