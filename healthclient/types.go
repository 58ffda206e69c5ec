package healthclient

import (
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// The types of the registration a ClusterHealth workflow runs, and of the
// Senlin health policy it comes from. They are aliases of the module's domain
// types, so an engine outside this module can build, parse and validate a
// registration with this package alone, and values pass to and from the
// workflow unchanged.
type (
	// Registration is the normalised, validated health policy of one cluster:
	// what Register sends to the cluster's workflow. Build it with
	// [ParsePolicy] and [Policy.Registration], or fill it in and check it with
	// its Validate method.
	Registration = health.Registration
	// DetectionMode is one detection mode of a registration, with every Senlin
	// option filled in.
	DetectionMode = health.DetectionMode
	// PollTemplate is a mode's poll URL template read once, to expand for
	// many nodes ([DetectionMode.Template]).
	PollTemplate = health.PollTemplate
	// DetectionType names a way of detecting an unhealthy node, such as
	// [NodeStatusPollURL].
	DetectionType = health.DetectionType
	// Conditional says how the results of several detection modes combine:
	// [AnyFailed] or [AllFailed].
	Conditional = health.Conditional
	// RecoveryAction is the one recovery action of a registration: an
	// [Operation] and its parameters.
	RecoveryAction = health.RecoveryAction
	// Operation is a node recovery operation, such as [OpRecreate].
	Operation = health.Operation
	// RecoverSignal asks a cluster's workflow to recover one node; see
	// [Client.Recover].
	RecoverSignal = health.RecoverSignal
	// RecoverParams is what a NODE_RECOVER action asks of the engine: the
	// operation, its parameters, the fencing and the delete options, as
	// Registration.RecoverParams builds them from the policy.
	RecoverParams = health.RecoverParams
	// Limits are the interval bounds a policy is validated against, in seconds
	// (Senlin's health_check_interval_min and check_interval_max).
	Limits = health.Limits
	// Policy is a parsed and validated Senlin health policy spec with every
	// default filled in; its Registration method makes it the registration of
	// one cluster.
	Policy = health.Policy
	// ValidationError lists every problem of a policy or registration, each a
	// [FieldError] with the path of the item at fault. [ParsePolicy] and
	// Registration.Validate return it as *ValidationError.
	ValidationError = health.ValidationError
	// FieldError is one problem of a policy: the path of the item, such as
	// properties.detection.interval, and the rule it breaks.
	FieldError = health.FieldError
	// Safety is the remediation safety policy of a registration
	// (properties.healthd): thresholds, max-unhealthy, caps, budget,
	// escalation, flap quarantine, dry-run, approval and pauses.
	Safety = health.Safety
	// Budget is a token bucket of recoveries per window.
	Budget = health.Budget
	// EscalationStep is one rung of a Safety's escalation ladder.
	EscalationStep = health.EscalationStep
	// Flap is a Safety's flap quarantine.
	Flap = health.Flap
	// Approval lists the operations that wait for an operator's answer.
	Approval = health.Approval
	// Outcome is how a recovery ended, as Status.Recent reports it.
	Outcome = health.Outcome
	// Decision is the decision core's decision about a node, as
	// Status.Decisions, Status.Hold and the operator updates report it.
	Decision = triage.Decision
	// DecisionAction is what a Decision does: recover, hold, ignore,
	// await_approval or change.
	DecisionAction = triage.Action
	// Pause holds something back until it expires: a cluster pause in
	// Status.Pauses, or a node's maintenance.
	Pause = triage.Pause
	// SweepSummary counts the verdicts of a cluster's last sweep
	// (Status.LastSweep).
	SweepSummary = health.SweepSummary
	// Verdict is what a workflow concluded about a node, as reported by
	// [Client.Status] in each node's state.
	Verdict = health.Verdict
)

// Detection types, spelled as in Senlin health policy specs.
const (
	// NodeStatusPolling judges a node by the status the engine records for it.
	NodeStatusPolling = health.NodeStatusPolling
	// NodeStatusPollURL judges a node by an HTTP request to its poll_url.
	NodeStatusPollURL = health.NodeStatusPollURL
	// HypervisorStatusPolling judges a node by the status of its hypervisor.
	HypervisorStatusPolling = health.HypervisorStatusPolling
	// LifecycleEvents recovers a node when a lifecycle notification (Nova, Heat)
	// reports it failed, through [Client.Recover].
	LifecycleEvents = health.LifecycleEvents
)

// Recovery conditionals, spelled as in Senlin.
const (
	// AnyFailed: a node is unhealthy when any detection mode says so.
	AnyFailed = health.AnyFailed
	// AllFailed: a node is unhealthy only when every detection mode says so.
	AllFailed = health.AllFailed
)

// Recovery operations.
const (
	// OpReboot reboots the node.
	OpReboot = health.OpReboot
	// OpRebuild rebuilds the node from its image.
	OpRebuild = health.OpRebuild
	// OpRecreate deletes the node and creates it again.
	OpRecreate = health.OpRecreate
)

// Verdicts, as in the node states of [Client.Status].
const (
	// Healthy: the node passed its checks.
	Healthy = health.Healthy
	// Unhealthy: the node failed its checks; it is recovered.
	Unhealthy = health.Unhealthy
	// Unknown: the check could not run; counted and shown, never recovered.
	Unknown = health.Unknown
	// Skipped: the node is not ACTIVE, so it was not judged.
	Skipped = health.Skipped
)

// DefaultLimits are Senlin's defaults: health_check_interval_min 60 and
// check_interval_max 3600.
var DefaultLimits = health.DefaultLimits

// ParsePolicy parses a Senlin health policy spec (type senlin.policy.health,
// version 1.0, 1.1 or 1.2), YAML or JSON, validates it against lim and fills in
// Senlin's defaults. It reports every problem at once in a *[ValidationError].
// Policy.Registration(clusterID) then gives what [Client.Register] takes.
func ParsePolicy(data []byte, lim Limits) (Policy, error) {
	return health.ParsePolicy(data, lim)
}
