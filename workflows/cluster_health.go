package workflows

import (
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// a is used only for type-checked activity references.
var a *activities.Activities

const (
	// dedupeWindow is how many recover-signal message IDs are remembered.
	dedupeWindow = 1024
	// recentWindow is how many finished recoveries the status keeps.
	recentWindow = 20
	// missingClusterLimit ends the workflow after this many consecutive rounds
	// without a cluster record (Senlin kept polling a deleted cluster forever).
	missingClusterLimit = 10
)

// Health states shown in the HealthState search attribute and the status.
const (
	StateDisabled   = "disabled"
	StateHealthy    = "healthy"
	StateDegraded   = "degraded"
	StateRecovering = "recovering"
	StateUnknown    = "unknown"
	StateEvents     = "watching-events"
	// StateHeld: the cluster's recoveries are held (max_unhealthy, a zone
	// out) until a human looks.
	StateHeld = "held"
	// StateWaiting: a node waits for a person: an approval, or a human
	// after failed recoveries or flapping.
	StateWaiting = "waiting"
)

// HealthStates are all the states, as the starter filters and the fleet
// gauge counts them.
var HealthStates = []string{StateHealthy, StateDegraded, StateRecovering, StateHeld, StateWaiting, StateUnknown, StateEvents, StateDisabled}

// ClusterHealth watches one cluster: polling rounds on a fixed grid, recovery
// of unhealthy nodes, enable/disable/recover/update/unregister signals and a
// status query. It runs until unregistered, continuing as new to bound history.
// It applies no interval limits; a worker registers New(limits) instead.
func ClusterHealth(ctx workflow.Context, in Input) error {
	return clusterHealthWorkflow(ctx, in, Limits{})
}

func clusterHealthWorkflow(ctx workflow.Context, in Input, lim Limits) error {
	w := newClusterHealth(ctx, in, lim)
	if err := workflow.SetQueryHandler(ctx, QueryStatus, w.status); err != nil {
		return fmt.Errorf("register status query: %w", err)
	}
	if err := w.registerUpdates(ctx); err != nil {
		return err
	}
	return w.run(ctx)
}

type roundOutcome struct {
	start time.Time
	// due is the grid slot the round was scheduled for: its timer's due time,
	// or start when it was started at once.
	due    time.Time
	result activities.CheckClusterResult
	// verdicts is the final verdict per node of result.Nodes, same order.
	verdicts []verdict
	err      error
}

type verdict struct {
	v      health.Verdict
	reason string
	// inGrace: the checks failed, but the node is within its grace period.
	inGrace bool
}

type recoveryOutcome struct {
	rec Recovery
	// finished is when the action ended, when the engine said.
	finished time.Time
}

type clusterHealth struct {
	reg        health.Registration
	limits     Limits
	limitsNote string
	// st is the memory a run carries to the next (continue-as-new).
	st     *State
	logger log
	// gen is the generation of rules this run keeps (triage.Generation),
	// which the decision core's policy derives its rules from; does says
	// what the run does besides deciding.
	gen triage.Generation
	loop
	timers
	channels
	// signals are the handlers of every signal, in the order the selector
	// offers them.
	signals []signalHandler
}

// loop is the main loop's bookkeeping within one run.
type loop struct {
	maxRounds int
	roundsRun int
	roundBusy bool
	pending   int // activities whose result the loop does not wait for
	lastSA    saValues
	done      bool
}

// timers are the run's timers and how to cancel them.
type timers struct {
	roundTimer workflow.Future
	cancelTmr  workflow.CancelFunc
	// burstTimer closes the open settle window; confirmTimer wakes the
	// workflow when a recovered node is to be taken as back (at confirmAt).
	burstTimer    workflow.Future
	confirmTimer  workflow.Future
	confirmAt     time.Time
	cancelConfirm workflow.CancelFunc
	leaseTimer    workflow.Future
	cancelLse     workflow.CancelFunc
	// approvalTimers cancels the timer of each approval waiting, by node.
	approvalTimers map[string]workflow.CancelFunc
}

// channels are what the run's goroutines hand the main loop.
type channels struct {
	roundDone       workflow.Channel
	recoveryDone    workflow.Channel
	recoveryOverdue workflow.Channel
	writeDone       workflow.Channel
	approvalDue     workflow.Channel
}

type log interface {
	Debug(string, ...interface{})
	Info(string, ...interface{})
	Warn(string, ...interface{})
	Error(string, ...interface{})
}

type saValues struct {
	enabled   bool
	state     string
	unhealthy int64
	set       bool
}

func newClusterHealth(ctx workflow.Context, in Input, lim Limits) *clusterHealth {
	st := in.State
	if st == nil {
		st = &State{Enabled: !in.Disabled}
		if in.Disabled {
			st.EnabledNote = "registered disabled"
		}
	}
	st.Runs++
	if st.Epoch == "" {
		// The registration's identity in idempotency keys: stable across
		// continue-as-new, new when the cluster is registered again.
		st.Epoch = strconv.FormatInt(workflow.Now(ctx).UnixMilli(), 36)
	}
	if st.Nodes == nil {
		st.Nodes = map[string]*NodeState{}
	}
	if st.InFlight == nil {
		st.InFlight = map[string]*Recovery{}
	}
	if st.Incidents == nil {
		st.Incidents = map[string]int64{}
	}
	if st.Counters.SignalsIgnoredBy == nil {
		st.Counters.SignalsIgnoredBy = map[string]int64{}
	}
	reg, limitsNote := lim.apply(in.Registration)
	w := &clusterHealth{
		reg:        reg,
		limits:     lim,
		limitsNote: limitsNote,
		st:         st,
		logger:     workflow.GetLogger(ctx),
		loop:       loop{maxRounds: in.MaxRoundsPerRun},
		timers:     timers{approvalTimers: map[string]workflow.CancelFunc{}},
		channels: channels{roundDone: workflow.NewChannel(ctx), recoveryDone: workflow.NewChannel(ctx),
			recoveryOverdue: workflow.NewChannel(ctx), writeDone: workflow.NewChannel(ctx), approvalDue: workflow.NewChannel(ctx)},
	}
	w.gen = generation(ctx)
	if st.Decisions == nil {
		st.Decisions = map[string]*NodeDecision{}
	}
	if w.does().Pauses && in.State == nil && in.Disabled {
		// Registered with its binding disabled: a pause by nobody in
		// particular, until an enable lifts it.
		st.Pauses = map[string]*triage.Pause{"": {Reason: "registered disabled", Since: workflow.Now(ctx)}}
	}
	w.signals = []signalHandler{
		onSignal(ctx, SignalEnable, w.onEnable),
		onSignal(ctx, SignalDisable, w.onDisable),
		onSignal(ctx, SignalRecover, w.onRecover),
		onSignal(ctx, SignalUpdate, w.onUpdate),
		onSignal(ctx, SignalUnregister, w.onUnregister),
		onSignal(ctx, SignalNodeBack, w.onNodeBack),
	}
	return w
}

// does is what the run does besides deciding, by its generation
// (triage.Mechanics): the workflow reads the mechanics by name, never the
// generation.
func (w *clusterHealth) does() triage.Mechanics { return w.gen.Mechanics() }

func (w *clusterHealth) run(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	if w.does().CheckStart {
		// A raw start (not through the starter or the client) can carry any
		// cluster ID: refuse one that breaks the rule, or that is not this
		// workflow's, before it reaches a query or a label.
		if err := health.CheckClusterID(w.reg.ClusterID); err != nil {
			return temporal.NewNonRetryableApplicationError(err.Error(), "BadRegistration", err)
		}
		if id := workflow.GetInfo(ctx).WorkflowExecution.ID; id != WorkflowID(w.reg.ClusterID) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"cluster_id: %q is not the cluster of workflow %s (whose ID must be %s)", w.reg.ClusterID, id, WorkflowID(w.reg.ClusterID)),
				"BadRegistration", nil)
		}
	}
	if w.st.Cluster.ID == "" {
		var d activities.DescribeClusterResult
		err := workflow.ExecuteActivity(quickOptions(ctx, "describe cluster "+w.reg.ClusterID), a.DescribeCluster, w.reg.ClusterID).Get(ctx, &d)
		if err != nil {
			w.logger.Warn("cannot describe cluster; project checks wait for the first round", "cluster_id", w.reg.ClusterID, "error", err)
		} else if d.Missing {
			w.logger.Warn("cluster is not found in the engine", "cluster_id", w.reg.ClusterID)
		} else {
			w.st.Cluster = d.Cluster
			if w.st.NodeCount == 0 {
				w.st.NodeCount = d.Nodes
			}
		}
	}
	// Resume the recoveries an earlier run left in flight: the idempotency key
	// finds the same action, and the wait keeps its original deadline.
	for _, node := range workflow.DeterministicKeys(w.st.InFlight) {
		w.launchRecovery(ctx, w.st.InFlight[node])
	}
	w.resumeApprovals(ctx)
	if w.st.Enabled && !w.st.DisabledUntil.IsZero() {
		w.st.DisabledUntil = time.Time{}
	}
	switch {
	case w.does().Pauses && len(w.st.Pauses) > 0:
		w.armPauseTimer(ctx)
	case !w.st.Enabled && !w.st.DisabledUntil.IsZero():
		w.startLease(ctx, w.st.DisabledUntil.Sub(now))
	}
	if w.st.Enabled && w.reg.Polling() {
		w.onPhase()
		if w.st.NextRound.IsZero() || !w.st.NextRound.After(now) {
			w.startRound(ctx)
		} else {
			w.scheduleRound(ctx, w.st.NextRound.Sub(now))
		}
	}
	if w.limitsNote != "" {
		w.logger.Warn("registration changed by the worker's interval limits", "cluster_id", w.reg.ClusterID, "note", w.limitsNote)
	}
	w.armTimers(ctx)
	w.publish(ctx)

	for !w.done {
		sel := workflow.NewSelector(ctx)
		for _, h := range w.signals {
			sel.AddReceive(h.ch, func(c workflow.ReceiveChannel, _ bool) { h.receive(ctx) })
		}
		sel.AddReceive(w.roundDone, func(c workflow.ReceiveChannel, _ bool) {
			var o roundOutcome
			c.Receive(ctx, &o)
			w.onRoundDone(ctx, o)
		})
		sel.AddReceive(w.recoveryDone, func(c workflow.ReceiveChannel, _ bool) {
			var o recoveryOutcome
			c.Receive(ctx, &o)
			w.onRecoveryDone(ctx, o)
		})
		sel.AddReceive(w.recoveryOverdue, func(c workflow.ReceiveChannel, _ bool) {
			var rec Recovery
			c.Receive(ctx, &rec)
			w.onRecoveryOverdue(ctx, rec)
		})
		sel.AddReceive(w.approvalDue, func(c workflow.ReceiveChannel, _ bool) {
			var t approvalTimeout
			c.Receive(ctx, &t)
			w.onApprovalTimeout(ctx, t)
		})
		sel.AddReceive(w.writeDone, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			w.pending--
		})
		if w.roundTimer != nil {
			sel.AddFuture(w.roundTimer, func(f workflow.Future) {
				w.roundTimer = nil
				if err := f.Get(ctx, nil); err != nil {
					return // cancelled by disable or update
				}
				if w.st.Enabled && !w.roundBusy {
					w.startRound(ctx)
				}
			})
		}
		if w.burstTimer != nil {
			sel.AddFuture(w.burstTimer, func(f workflow.Future) {
				w.burstTimer = nil
				if f.Get(ctx, nil) == nil {
					w.closeBurst(ctx, false)
				}
			})
		}
		if w.confirmTimer != nil {
			sel.AddFuture(w.confirmTimer, func(f workflow.Future) {
				w.confirmTimer, w.cancelConfirm, w.confirmAt = nil, nil, time.Time{}
				if f.Get(ctx, nil) == nil {
					w.retryHeld(ctx)
				}
			})
		}
		if w.leaseTimer != nil {
			sel.AddFuture(w.leaseTimer, func(f workflow.Future) {
				w.leaseTimer = nil
				if err := f.Get(ctx, nil); err != nil {
					return
				}
				if w.does().Pauses {
					w.expirePauses(ctx)
					return
				}
				w.logger.Info("disable lease expired, checks resume", "cluster_id", w.reg.ClusterID)
				w.enable(ctx, "disable lease expired")
			})
		}
		sel.Select(ctx)
		w.armTimers(ctx)
		w.publish(ctx)

		if !w.done && w.shouldContinueAsNew(ctx) {
			return w.continueAsNew(ctx)
		}
	}
	w.logger.Info("cluster unregistered, health checks end", "cluster_id", w.reg.ClusterID,
		"recoveries_in_flight", len(w.st.InFlight))
	return nil
}

// Continue-as-new.

func (w *clusterHealth) shouldContinueAsNew(ctx workflow.Context) bool {
	if w.roundBusy || w.pending > 0 || !workflow.AllHandlersFinished(ctx) {
		return false
	}
	return workflow.GetInfo(ctx).GetContinueAsNewSuggested() || (w.maxRounds > 0 && w.roundsRun >= w.maxRounds)
}

func (w *clusterHealth) continueAsNew(ctx workflow.Context) error {
	// Signals already delivered to this run must not be lost: handle them here.
	for drained := false; !drained; {
		drained = true
		for _, h := range w.signals {
			for h.drain(ctx) {
				drained = false
			}
		}
	}
	if w.done {
		return nil
	}
	if w.roundBusy {
		// An enable among the drained signals started a round; it reruns at once
		// in the next run instead.
		w.st.NextRound = time.Time{}
	}
	w.logger.Info("continuing as new", "cluster_id", w.reg.ClusterID, "rounds", w.st.Counters.Rounds, "in_flight", len(w.st.InFlight))
	return workflow.NewContinueAsNewError(ctx, WorkflowName, Input{Registration: w.reg, State: w.st, MaxRoundsPerRun: w.maxRounds})
}
