package triage

// Generation names the rules a run of the workflow keeps. A run keeps the
// generation it started with until it continues as new, so that a history
// recorded under older rules replays the same; a new run takes Current. The
// workflow reads its run's generation once (one workflow.GetVersion per
// step, in order) and the policy derives every rule switch from it: this is
// the one place where the rules of older runs are named.
type Generation int

// The generations, oldest first. Each keeps the rules of those before it.
const (
	// GenLegacy: runs recorded before the decision core: every failed node
	// recovered, no max-unhealthy, no failed-recovery limit, no
	// LIFECYCLE_EVENTS gate.
	GenLegacy Generation = iota
	// GenCore: the decision core's rules.
	GenCore
	// GenBursts: recover requests judged together in settle windows, a
	// recovered node of a cluster without rounds counted until seen back,
	// node-back signals, stale events ignored.
	GenBursts
	// GenHardened: the member check before deciding, approvals that do not
	// hold a run, raw signals that break the input rules dropped.
	GenHardened
	// GenFleetStates: the states held and waiting.
	GenFleetStates
	// GenSuccessHold: a node that passes its checks again after a
	// recovery, while it has not yet passed success_threshold of them, is
	// held, not recovered again; a round counts the unhealthy nodes as
	// requests and retries do (every node the memory holds unhealthy).
	GenSuccessHold

	// GenLocalSweep: a round whose last sweep was short runs its sweep as a
	// local activity (one marker in the history instead of an activity's
	// three events and a workflow task).
	GenLocalSweep

	// Current is the generation of new runs.
	Current = GenLocalSweep
)

// VersionSteps are the workflow.GetVersion change IDs that lead from one
// generation to the next, in order: a run that has step i (version 1) is of
// generation i+1 at least. The workflow asks them in this order and stops at
// the first it lacks, as the runs recorded before each asked them.
var VersionSteps = []string{"decision-core", "event-burst", "hostile-tenants", "fleet-states", "success-hold", "local-sweep"}

// The switches a generation turns on, for the rules and for the workflow.

// Legacy: the run is older than the decision core.
func (g Generation) Legacy() bool { return g == GenLegacy }

// Bursts: see GenBursts.
func (g Generation) Bursts() bool { return g >= GenBursts }

// Hardened: see GenHardened.
func (g Generation) Hardened() bool { return g >= GenHardened }

// FleetStates: see GenFleetStates.
func (g Generation) FleetStates() bool { return g >= GenFleetStates }

// LocalSweep: see GenLocalSweep.
func (g Generation) LocalSweep() bool { return g >= GenLocalSweep }

// String names the generation by the step that led to it ("legacy" for
// GenLegacy): what the status query reports.
func (g Generation) String() string {
	if g <= GenLegacy || int(g) > len(VersionSteps) {
		return "legacy"
	}
	return VersionSteps[g-1]
}
