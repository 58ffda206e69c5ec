package triage

// Generation names the rules a run of the workflow keeps. A run keeps the
// generation it started with until it continues as new, so that a history
// recorded under older rules replays the same; a new run takes Current. The
// workflow reads its run's generation once (one workflow.GetVersion per
// step, in order); PolicyFor derives every rule switch of the core from it
// and Mechanics everything else a run does differently: these are the one
// place where the rules of older runs are named.
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

	// GenRoundPhase: a cluster's rounds keep a phase of their own within
	// the interval, which its ID picks, so that the rounds of clusters
	// registered together spread over the interval.
	GenRoundPhase

	// GenSeenBack: a recovery counts as having worked once the node is seen
	// working after it, not when the action succeeds: one after which the
	// node fails again first counts toward max_failed_recoveries as a
	// failed one, and a round that started before a recovery ended says
	// nothing of the recovered node.
	GenSeenBack

	// Current is the generation of new runs.
	Current = GenSeenBack
)

// VersionSteps are the workflow.GetVersion change IDs that lead from one
// generation to the next, in order: a run that has step i (version 1) is of
// generation i+1 at least. The workflow asks them in this order and stops at
// the first it lacks, as the runs recorded before each asked them.
var VersionSteps = []string{"decision-core", "event-burst", "hostile-tenants", "fleet-states", "success-hold", "local-sweep", "round-phase", "seen-back"}

// Mechanics are what a run does besides deciding, by generation. The
// workflow reads each of them by its name and never the generation itself,
// so this function is the one place that says what the runs of an older
// generation do differently. Once no run of an older generation remains
// (README, "Generations"), a mechanic true for every generation left is
// deleted with the branch that reads it.
type Mechanics struct {
	// CheckStart: a start whose cluster ID breaks the rule, or is not its
	// workflow's, is refused (decision-core).
	CheckStart bool
	// Pauses: disable and enable are pauses by requester (a registration
	// disabled is a pause by nobody), lifted by their requester or when
	// they expire; before: one enabled flag and a disable lease
	// (decision-core).
	Pauses bool
	// Timeline: what the core decided is recorded as health events
	// (decision-core).
	Timeline bool
	// RetryWithoutRounds: a cluster without rounds asks the core again for
	// its held nodes after each signal, its only other chance being another
	// notification (decision-core).
	RetryWithoutRounds bool
	// Watch: a round is told the nodes the memory watches, and returns the
	// nodes it could not judge for the workflow to judge once confirmed
	// (decision-core).
	Watch bool
	// Bursts: recover requests collected into settle windows, node-back
	// signals heard, confirmation timers armed (event-burst).
	Bursts bool
	// MemberCheck: the nodes of a request or a maintenance are checked
	// against the cluster's members first (hostile-tenants).
	MemberCheck bool
	// BoundInputs: raw signals that break the input rules are dropped, and
	// a cluster keeps at most MaxPauses pauses (hostile-tenants).
	BoundInputs bool
	// ApprovalsPending: a waiting approval counts as pending work, which
	// holds a continue-as-new back (before hostile-tenants).
	ApprovalsPending bool
	// FleetStates: the states held and waiting are reported (fleet-states).
	FleetStates bool
	// LocalSweeps: a round whose last sweep was short sweeps as a local
	// activity (local-sweep).
	LocalSweeps bool
	// RoundPhases: a grid of rounds that starts (on register, enable or an
	// update) is laid on the cluster's own phase within the interval, not
	// on the moment it starts (round-phase).
	RoundPhases bool
}

// Mechanics are the generation's.
func (g Generation) Mechanics() Mechanics {
	return Mechanics{
		CheckStart:         g >= GenCore,
		Pauses:             g >= GenCore,
		Timeline:           g >= GenCore,
		RetryWithoutRounds: g >= GenCore,
		Watch:              g >= GenCore,
		Bursts:             g >= GenBursts,
		MemberCheck:        g >= GenHardened,
		BoundInputs:        g >= GenHardened,
		ApprovalsPending:   g < GenHardened,
		FleetStates:        g >= GenFleetStates,
		LocalSweeps:        g >= GenLocalSweep,
		RoundPhases:        g >= GenRoundPhase,
	}
}

// RetryHeld reports whether the core is asked again for the held nodes of
// a cluster after a signal: only a cluster without rounds needs it (a round
// does it otherwise), and not while it is disabled, when the core would hold
// every node for that reason alone.
func (m Mechanics) RetryHeld(polling, enabled bool) bool {
	return m.RetryWithoutRounds && !polling && enabled
}

// String names the generation by the step that led to it ("legacy" for
// GenLegacy): what the status query reports.
func (g Generation) String() string {
	if g <= GenLegacy || int(g) > len(VersionSteps) {
		return "legacy"
	}
	return VersionSteps[g-1]
}
