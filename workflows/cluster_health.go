package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
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
)

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
	st         *State
	maxRounds  int
	roundsRun  int
	logger     log
	roundBusy  bool
	pending    int // activities whose result the loop does not wait for
	roundTimer workflow.Future
	cancelTmr  workflow.CancelFunc
	leaseTimer workflow.Future
	cancelLse  workflow.CancelFunc
	lastSA     saValues
	done       bool

	roundDone       workflow.Channel
	recoveryDone    workflow.Channel
	recoveryOverdue workflow.Channel
	writeDone       workflow.Channel

	enableCh, disableCh, recoverCh, updateCh, unregisterCh workflow.ReceiveChannel
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
	return &clusterHealth{
		reg:             reg,
		limits:          lim,
		limitsNote:      limitsNote,
		st:              st,
		maxRounds:       in.MaxRoundsPerRun,
		logger:          workflow.GetLogger(ctx),
		roundDone:       workflow.NewChannel(ctx),
		recoveryDone:    workflow.NewChannel(ctx),
		recoveryOverdue: workflow.NewChannel(ctx),
		writeDone:       workflow.NewChannel(ctx),
		enableCh:        workflow.GetSignalChannel(ctx, SignalEnable),
		disableCh:       workflow.GetSignalChannel(ctx, SignalDisable),
		recoverCh:       workflow.GetSignalChannel(ctx, SignalRecover),
		updateCh:        workflow.GetSignalChannel(ctx, SignalUpdate),
		unregisterCh:    workflow.GetSignalChannel(ctx, SignalUnregister),
	}
}

func (w *clusterHealth) run(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	if w.st.Cluster.ID == "" {
		var d activities.DescribeClusterResult
		err := workflow.ExecuteActivity(quickOptions(ctx, "describe cluster "+w.reg.ClusterID), a.DescribeCluster, w.reg.ClusterID).Get(ctx, &d)
		if err != nil {
			w.logger.Warn("cannot describe cluster; project checks wait for the first round", "cluster_id", w.reg.ClusterID, "error", err)
		} else if d.Missing {
			w.logger.Warn("cluster is not found in the engine", "cluster_id", w.reg.ClusterID)
		} else {
			w.st.Cluster = d.Cluster
		}
	}
	// Resume the recoveries an earlier run left in flight: the idempotency key
	// finds the same action, and the wait keeps its original deadline.
	for _, node := range workflow.DeterministicKeys(w.st.InFlight) {
		w.launchRecovery(ctx, w.st.InFlight[node])
	}
	if w.st.Enabled && !w.st.DisabledUntil.IsZero() {
		w.st.DisabledUntil = time.Time{}
	}
	if !w.st.Enabled && !w.st.DisabledUntil.IsZero() {
		w.startLease(ctx, w.st.DisabledUntil.Sub(now))
	}
	if w.st.Enabled && w.reg.Polling() {
		if w.st.NextRound.IsZero() || !w.st.NextRound.After(now) {
			w.startRound(ctx)
		} else {
			w.scheduleRound(ctx, w.st.NextRound.Sub(now))
		}
	}
	if w.limitsNote != "" {
		w.logger.Warn("registration changed by the worker's interval limits", "cluster_id", w.reg.ClusterID, "note", w.limitsNote)
	}
	w.publish(ctx)

	for !w.done {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(w.enableCh, func(c workflow.ReceiveChannel, _ bool) {
			var s EnableSignal
			c.Receive(ctx, &s)
			w.onEnable(ctx, s)
		})
		sel.AddReceive(w.disableCh, func(c workflow.ReceiveChannel, _ bool) {
			var s DisableSignal
			c.Receive(ctx, &s)
			w.onDisable(ctx, s)
		})
		sel.AddReceive(w.recoverCh, func(c workflow.ReceiveChannel, _ bool) {
			var s RecoverSignal
			c.Receive(ctx, &s)
			w.onRecover(ctx, s)
		})
		sel.AddReceive(w.updateCh, func(c workflow.ReceiveChannel, _ bool) {
			var s UpdateSignal
			c.Receive(ctx, &s)
			w.onUpdate(ctx, s)
		})
		sel.AddReceive(w.unregisterCh, func(c workflow.ReceiveChannel, _ bool) {
			var s UnregisterSignal
			c.Receive(ctx, &s)
			w.onUnregister(ctx, s)
		})
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
		if w.leaseTimer != nil {
			sel.AddFuture(w.leaseTimer, func(f workflow.Future) {
				w.leaseTimer = nil
				if err := f.Get(ctx, nil); err != nil {
					return
				}
				w.logger.Info("disable lease expired, checks resume", "cluster_id", w.reg.ClusterID)
				w.enable(ctx, "disable lease expired")
			})
		}
		sel.Select(ctx)
		w.publish(ctx)

		if !w.done && w.shouldContinueAsNew(ctx) {
			return w.continueAsNew(ctx)
		}
	}
	w.logger.Info("cluster unregistered, health checks end", "cluster_id", w.reg.ClusterID,
		"recoveries_in_flight", len(w.st.InFlight))
	return nil
}

// --- rounds ---

func (w *clusterHealth) scheduleRound(ctx workflow.Context, d time.Duration) {
	w.cancelRoundTimer()
	w.st.NextRound = workflow.Now(ctx).Add(d)
	tctx, cancel := workflow.WithCancel(ctx)
	w.cancelTmr = cancel
	w.roundTimer = workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: "next round"})
}

func (w *clusterHealth) cancelRoundTimer() {
	if w.cancelTmr != nil {
		w.cancelTmr()
	}
	w.cancelTmr, w.roundTimer = nil, nil
	w.st.NextRound = time.Time{}
}

func (w *clusterHealth) startRound(ctx workflow.Context) {
	due := w.st.NextRound
	w.cancelRoundTimer()
	if !w.reg.Polling() {
		return
	}
	start := workflow.Now(ctx)
	if w.st.GridOrigin.IsZero() {
		w.st.GridOrigin = start
	}
	if due.IsZero() || due.After(start) {
		due = start
	}
	w.st.LastRound = start
	w.roundBusy = true
	reg := w.reg
	workflow.Go(ctx, func(gctx workflow.Context) {
		o := runRound(gctx, reg)
		o.start, o.due = start, due
		w.roundDone.Send(gctx, o)
	})
}

// runRound is one polling round: one sweep activity over every node, then one
// pause and per-node confirmations for nodes whose poll URL failed while more
// attempts are allowed, then the final verdicts with the grace period applied.
func runRound(ctx workflow.Context, reg health.Registration) roundOutcome {
	var res activities.CheckClusterResult
	in := activities.CheckClusterInput{ClusterID: reg.ClusterID, Modes: pollingModes(reg), Conditional: reg.RecoveryConditional,
		StatusMaxAge: reg.StatusMaxAge()}
	if err := workflow.ExecuteActivity(sweepOptions(ctx, reg), a.CheckCluster, in).Get(ctx, &res); err != nil {
		return roundOutcome{err: err}
	}
	if res.ClusterMissing {
		return roundOutcome{result: res}
	}
	// Confirm suspects: Senlin's remaining URL attempts, as one Temporal retry
	// policy per node so every attempt and the last failure show in the UI.
	type suspect struct {
		node, result int
		f            workflow.Future
	}
	var suspects []suspect
	if m, ok := reg.Mode(health.NodeStatusPollURL); ok {
		for i, n := range res.Nodes {
			for j, r := range n.Results {
				if r.Suspect {
					suspects = append(suspects, suspect{node: i, result: j})
				}
			}
		}
		if len(suspects) > 0 {
			_ = workflow.NewTimerWithOptions(ctx, m.RetryInterval(), workflow.TimerOptions{Summary: "poll URL retry interval"}).Get(ctx, nil)
			for k, s := range suspects {
				n := res.Nodes[s.node]
				in := activities.ConfirmNodeURLInput{ClusterID: reg.ClusterID, NodeID: n.ID, NodeName: n.Name, Mode: m}
				suspects[k].f = workflow.ExecuteActivity(confirmOptions(ctx, m, n.Name), a.ConfirmNodeURL, in)
			}
			for _, s := range suspects {
				r := &res.Nodes[s.node].Results[s.result]
				r.Suspect = false
				var c activities.ConfirmNodeURLResult
				err := s.f.Get(ctx, &c)
				var appErr *temporal.ApplicationError
				switch {
				case err == nil:
					r.Verdict, r.Detail = health.Healthy, c.Detail
				case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNodeURLUnhealthy:
					r.Verdict = health.Unhealthy
					r.Detail = fmt.Sprintf("%d attempts failed, last: %s", m.Attempts(), appErr.Message())
				default:
					r.Verdict, r.Detail = health.Unknown, "confirmation could not run: "+err.Error()
				}
			}
		}
	}
	now := workflow.Now(ctx)
	out := roundOutcome{result: res, verdicts: make([]verdict, len(res.Nodes))}
	for i, n := range res.Nodes {
		if n.Status != health.NodeActive {
			out.verdicts[i] = verdict{health.Skipped, "node is " + string(n.Status)}
			continue
		}
		v, why := health.Combine(reg.RecoveryConditional, n.Results)
		v, why = health.ApplyGrace(v, why, n.LastUpdate, reg.Grace(), now)
		out.verdicts[i] = verdict{v, why}
	}
	return out
}

func pollingModes(reg health.Registration) []health.DetectionMode {
	var ms []health.DetectionMode
	for _, m := range reg.DetectionModes {
		if m.Type.IsPolling() {
			ms = append(ms, m)
		}
	}
	return ms
}

func (w *clusterHealth) onRoundDone(ctx workflow.Context, o roundOutcome) {
	w.roundBusy = false
	w.roundsRun++
	w.st.Counters.Rounds++
	workflow.GetMetricsHandler(ctx).Counter(MetricRounds).Inc(1)
	now := workflow.Now(ctx)
	cid := w.reg.ClusterID
	switch {
	case o.err != nil:
		w.st.Counters.RoundErrors++
		w.st.LastRoundError = o.err.Error()
		w.logger.Warn("health check round failed", "cluster_id", cid, "error", o.err)
	case o.result.ClusterMissing:
		w.st.MissingRounds++
		w.logger.Warn("cluster is not found", "cluster_id", cid, "missing_rounds", w.st.MissingRounds)
		if w.st.MissingRounds >= missingClusterLimit {
			w.logger.Error("cluster has been missing for too many rounds, unregistering", "cluster_id", cid, "rounds", w.st.MissingRounds)
			w.done = true
			return
		}
	default:
		w.st.MissingRounds = 0
		w.st.LastRoundError = ""
		w.st.Cluster = o.result.Cluster
		w.applyVerdicts(ctx, o, now)
	}
	// Chase up: the next round starts at the next point of the grid; the
	// points the round overran, or passed before it could start, are skipped
	// and counted. Runs recorded before the grid kept its origin measured the
	// grid from each round's actual start, so that the rounds drifted by each
	// round's start latency and a late start was not counted as missed.
	interval := w.reg.RoundInterval()
	var missed int64
	var next time.Time
	if workflow.GetVersion(ctx, "round-grid-origin", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		if elapsed := now.Sub(o.start); elapsed > 0 {
			missed = int64((elapsed - time.Nanosecond) / interval)
		}
		next = o.start.Add(time.Duration(missed+1) * interval)
	} else {
		next, missed = nextGridPoint(w.st.GridOrigin, interval, o.due, now)
	}
	if missed > 0 {
		w.st.Counters.MissedRounds += missed
		w.logger.Warn(fmt.Sprintf("Poller missed %d intervals for checking", missed), "cluster_id", cid, "missed", missed)
	}
	if w.st.Enabled && !w.done {
		w.scheduleRound(ctx, max(next.Sub(now), 0))
	}
}

// nextGridPoint returns the first point of the grid origin + k*interval at or
// after now and later than due, the point the finished round was scheduled
// for, and how many points lie strictly between the two: Senlin's missed
// intervals, here counted from a fixed origin, so that neither a long round
// nor a late start shifts the grid.
func nextGridPoint(origin time.Time, interval time.Duration, due, now time.Time) (time.Time, int64) {
	slot := func(t time.Time, roundUp bool) int64 {
		d := t.Sub(origin)
		if d <= 0 {
			return 0
		}
		if roundUp {
			return int64((d + interval - 1) / interval)
		}
		return int64((d + interval/2) / interval) // due is on the grid, give or take
	}
	sched := slot(due, false)
	k := max(slot(now, true), sched+1)
	return origin.Add(time.Duration(k) * interval), k - sched - 1
}

func (w *clusterHealth) applyVerdicts(ctx workflow.Context, o roundOutcome, now time.Time) {
	cid := w.reg.ClusterID
	seen := make(map[string]bool, len(o.result.Nodes))
	var events []health.HealthEvent
	var unhealthy []string
	verdicts := map[health.Verdict]int64{}
	for i, n := range o.result.Nodes {
		v := o.verdicts[i]
		seen[n.ID] = true
		verdicts[v.v]++
		ns, ok := w.st.Nodes[n.ID]
		if !ok {
			ns = &NodeState{Since: now}
			w.st.Nodes[n.ID] = ns
		}
		if ok && ns.Verdict != v.v {
			events = append(events, health.HealthEvent{ClusterID: cid, NodeID: n.ID, At: now, From: ns.Verdict, To: v.v, Reason: v.reason})
			ns.Since = now
		} else if !ok && v.v != health.Healthy {
			events = append(events, health.HealthEvent{ClusterID: cid, NodeID: n.ID, At: now, From: "", To: v.v, Reason: v.reason})
		}
		ns.Name, ns.Status, ns.Verdict, ns.Reason, ns.LastChecked = n.Name, string(n.Status), v.v, v.reason, now
		switch {
		case v.v != health.Unhealthy:
			ns.FailingSince = time.Time{}
		case ns.FailingSince.IsZero():
			ns.FailingSince = o.start
		}
		if v.v == health.Unhealthy {
			unhealthy = append(unhealthy, n.ID)
		}
	}
	w.st.Counters.Healthy += verdicts[health.Healthy]
	w.st.Counters.Unhealthy += verdicts[health.Unhealthy]
	w.st.Counters.Unknown += verdicts[health.Unknown]
	w.st.Counters.Skipped += verdicts[health.Skipped]
	mh := workflow.GetMetricsHandler(ctx)
	for _, v := range []health.Verdict{health.Healthy, health.Unhealthy, health.Unknown, health.Skipped} {
		if verdicts[v] > 0 {
			mh.WithTags(map[string]string{TagVerdict: string(v)}).Counter(MetricChecks).Inc(verdicts[v])
		}
	}
	for _, id := range workflow.DeterministicKeys(w.st.Nodes) {
		if !seen[id] {
			delete(w.st.Nodes, id) // the node left the cluster
		}
	}
	if len(unhealthy) == 0 {
		w.logger.Debug("Health check passed for all nodes in cluster", "cluster_id", cid, "nodes", len(o.result.Nodes))
	}
	for _, id := range unhealthy {
		ns := w.st.Nodes[id]
		switch {
		case !w.st.Enabled:
			w.logger.Info("node is unhealthy but checks were disabled during the round; not recovering", "cluster_id", cid, "node_id", id)
		case w.st.InFlight[id] != nil:
			w.logger.Info("node is unhealthy and already recovering", "cluster_id", cid, "node_id", id, "action_id", w.st.InFlight[id].ActionID)
		default:
			w.logger.Info("Health check failed for node, recovery has started", "cluster_id", cid, "node_id", id, "node", ns.Name, "reason", ns.Reason)
			w.requestRecovery(ctx, id, ns.Name, health.SourcePoll, ns.Reason, "", ns.FailingSince)
		}
	}
	w.record(ctx, events)
}

// --- recoveries ---

func (w *clusterHealth) requestRecovery(ctx workflow.Context, nodeID, nodeName, source, reason, physicalID string, detected time.Time) {
	now := workflow.Now(ctx)
	if detected.IsZero() || detected.After(now) {
		detected = now
	}
	w.st.Incidents[nodeID]++
	rec := &Recovery{
		NodeID:           nodeID,
		NodeName:         nodeName,
		Key:              fmt.Sprintf("%s/%s/%s/%d", w.reg.ClusterID, w.st.Epoch, nodeID, w.st.Incidents[nodeID]),
		Source:           source,
		Reason:           reason,
		Requested:        now,
		Detected:         detected,
		Deadline:         now.Add(w.reg.WaitBound()),
		ExpectPhysicalID: physicalID,
	}
	w.st.InFlight[nodeID] = rec
	w.st.Counters.RecoveriesRequested++
	w.launchRecovery(ctx, rec)
}

// launchRecovery runs (or resumes) one recovery concurrently with everything
// else: the request, then the wait for its action until its deadline, then,
// once it is overdue, a watch until the action ends: a recovery that takes
// longer than its bound is reported, never forgotten (Senlin F-19).
func (w *clusterHealth) launchRecovery(ctx workflow.Context, rec *Recovery) {
	reg := w.reg
	workflow.Go(ctx, func(gctx workflow.Context) {
		out := recoveryOutcome{rec: *rec}
		defer func() { w.recoveryDone.Send(gctx, out) }()
		r := &out.rec
		if r.ActionID == "" {
			var res activities.RecoverNodeResult
			in := activities.RecoverNodeInput{ClusterID: reg.ClusterID, NodeID: r.NodeID, Key: r.Key,
				Params: reg.RecoverParams(), ExpectPhysicalID: r.ExpectPhysicalID}
			label := r.NodeName
			if label == "" {
				label = r.NodeID
			}
			err := workflow.ExecuteActivity(recoverOptions(gctx, fmt.Sprintf("recover %s (%s)", label, reg.Recovery.Name)), a.RecoverNode, in).Get(gctx, &res)
			switch {
			case err != nil:
				r.Outcome, r.Detail = health.OutcomeRequestFailed, err.Error()
				return
			case res.Skipped != "":
				r.Outcome, r.Detail = health.OutcomeSkipped, res.Skipped
				return
			}
			r.ActionID = res.ActionID
			rec.ActionID = res.ActionID // carried if the run continues as new now
			if res.Joined {
				w.logger.Info("node already has an active recovery; waiting for it", "cluster_id", reg.ClusterID,
					"node_id", r.NodeID, "action_id", r.ActionID)
			}
		}
		if !r.Overdue {
			ended, err := awaitAction(gctx, &out, r.Deadline, "wait for action "+r.ActionID)
			switch {
			case ended:
				return
			case workflow.GetVersion(gctx, "overdue-watch", workflow.DefaultVersion, 1) == workflow.DefaultVersion:
				// Runs recorded before overdue recoveries were watched ended
				// the recovery here and forgot its action.
				if err != nil {
					r.Outcome, r.Detail = health.OutcomeWaitFailed, err.Error()
				} else {
					r.Outcome, r.Detail = health.OutcomeTimeout, "Timeout while waiting for node recovery action to finish"
				}
				return
			case err == nil:
				r.Overdue = true
				rec.Overdue = true // carried if the run continues as new now
				w.recoveryOverdue.Send(gctx, *r)
			}
		}
		// Watch the action until it ends, however long that takes: the node
		// stays in flight, so no second recovery is asked for meanwhile.
		for {
			ended, err := awaitAction(gctx, &out, workflow.Now(gctx).Add(watchSpan), "watch overdue action "+r.ActionID)
			if ended {
				return
			}
			if err != nil {
				// The wait could not run (the database is down for longer than
				// its retries): look again later rather than forget the action.
				w.logger.Warn("cannot watch recovery action; trying again", "cluster_id", reg.ClusterID,
					"node_id", r.NodeID, "action_id", r.ActionID, "error", err)
				_ = workflow.NewTimerWithOptions(gctx, time.Minute, workflow.TimerOptions{Summary: "retry watch of " + r.ActionID}).Get(gctx, nil)
			}
		}
	})
}

// awaitAction waits for the recovery's action until deadline. It reports
// whether the recovery ended, with its outcome set in out: the action
// finished, or it does not exist. Otherwise it returns the wait's error, or
// nil when the deadline came first.
func awaitAction(ctx workflow.Context, out *recoveryOutcome, deadline time.Time, summary string) (bool, error) {
	r := &out.rec
	var wr activities.WaitForActionResult
	err := workflow.ExecuteActivity(waitOptions(ctx, deadline.Sub(workflow.Now(ctx)), summary),
		a.WaitForAction, activities.WaitForActionInput{ActionID: r.ActionID, Deadline: deadline}).Get(ctx, &wr)
	switch {
	case err == nil && !wr.TimedOut:
		r.Outcome, r.Detail, out.finished = health.OutcomeOf(wr.Status), wr.Reason, wr.FinishedAt
		return true, nil
	case isActionNotFound(err):
		r.Outcome, r.Detail = health.OutcomeWaitFailed, err.Error()
		return true, nil
	}
	return false, err
}

// watchSpan is how long one wait on an overdue action lasts before the
// workflow asks again; a few events an hour per overdue recovery.
const watchSpan = time.Hour

func isActionNotFound(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeActionNotFound
}

// onRecoveryOverdue marks a recovery that outlived its wait bound; it stays in
// flight and watched.
func (w *clusterHealth) onRecoveryOverdue(ctx workflow.Context, rec Recovery) {
	if cur := w.st.InFlight[rec.NodeID]; cur != nil && cur.Key == rec.Key {
		cur.Overdue = true
	}
	w.st.Counters.RecoveriesTimedOut++
	workflow.GetMetricsHandler(ctx).Counter(MetricRecoveriesOverdue).Inc(1)
	now := workflow.Now(ctx)
	w.logger.Warn("Node recovery action did not complete within specified timeout; still watching it",
		"cluster_id", w.reg.ClusterID, "node_id", rec.NodeID, "action_id", rec.ActionID,
		"bound", w.reg.WaitBound().String(), "took", now.Sub(rec.Requested).String())
	w.record(ctx, []health.HealthEvent{{ClusterID: w.reg.ClusterID, NodeID: rec.NodeID, At: now,
		From: health.Unhealthy, To: "recovery overdue", ActionID: rec.ActionID,
		Reason: fmt.Sprintf("action still not finished %s after the request (bound %s); still watching it",
			now.Sub(rec.Requested).Truncate(time.Second), w.reg.WaitBound())}})
}

func (w *clusterHealth) onRecoveryDone(ctx workflow.Context, o recoveryOutcome) {
	rec := o.rec
	now := workflow.Now(ctx)
	rec.Finished = now
	if cur := w.st.InFlight[rec.NodeID]; cur != nil && cur.Key == rec.Key {
		delete(w.st.InFlight, rec.NodeID)
	}
	fields := []interface{}{"cluster_id", w.reg.ClusterID, "node_id", rec.NodeID, "action_id", rec.ActionID,
		"outcome", rec.Outcome, "detail", rec.Detail, "source", rec.Source, "took", now.Sub(rec.Requested).String()}
	mh := workflow.GetMetricsHandler(ctx)
	mh.WithTags(map[string]string{TagOutcome: rec.Outcome.Label()}).Counter(MetricRecoveries).Inc(1)
	switch rec.Outcome {
	case health.OutcomeSucceeded:
		w.st.Counters.RecoveriesSucceeded++
		w.logger.Info("node recovery succeeded", fields...)
		end := o.finished
		if end.IsZero() {
			end = now
		}
		if !rec.Detected.IsZero() && end.After(rec.Detected) {
			mh.Timer(MetricDetectionToRecovery).Record(end.Sub(rec.Detected))
		}
	case health.OutcomeTimeout:
		w.st.Counters.RecoveriesTimedOut++
		w.logger.Warn("Node recovery action did not complete within specified timeout", fields...)
	case health.OutcomeSkipped:
		w.st.Counters.RecoveriesSkipped++
		w.logger.Info("node recovery not requested", fields...)
	default:
		w.st.Counters.RecoveriesFailed++
		w.logger.Warn("node recovery failed", fields...)
	}
	w.st.Recent = append(w.st.Recent, rec)
	if len(w.st.Recent) > recentWindow {
		w.st.Recent = slices.Clone(w.st.Recent[len(w.st.Recent)-recentWindow:])
	}
	w.record(ctx, []health.HealthEvent{{ClusterID: w.reg.ClusterID, NodeID: rec.NodeID, At: now,
		From: health.Unhealthy, To: health.Verdict("recovery " + rec.Outcome.Label()), Reason: rec.Detail, ActionID: rec.ActionID}})
}

// record appends events to the durable timeline without blocking the loop.
func (w *clusterHealth) record(ctx workflow.Context, events []health.HealthEvent) {
	if len(events) == 0 {
		return
	}
	w.pending++
	workflow.Go(ctx, func(gctx workflow.Context) {
		err := workflow.ExecuteActivity(quickOptions(gctx, fmt.Sprintf("record %d health events", len(events))), a.RecordHealthEvents, events).Get(gctx, nil)
		if err != nil {
			w.logger.Warn("cannot record health events", "cluster_id", w.reg.ClusterID, "error", err)
		}
		w.writeDone.Send(gctx, struct{}{})
	})
}

// --- signals ---

func (w *clusterHealth) onEnable(ctx workflow.Context, s EnableSignal) {
	if w.st.Enabled {
		w.logger.Info("health check is already enabled", "cluster_id", w.reg.ClusterID, "requester", s.Requester, "reason", s.Reason)
		return // idempotent: one loop only
	}
	w.logger.Info("Enabling health check for cluster", "cluster_id", w.reg.ClusterID, "requester", s.Requester, "reason", s.Reason)
	w.enable(ctx, note("enabled", s.Requester, s.Reason))
}

func (w *clusterHealth) enable(ctx workflow.Context, why string) {
	w.st.Enabled = true
	w.st.EnabledNote = why
	w.st.DisabledUntil = time.Time{}
	if w.cancelLse != nil {
		w.cancelLse()
		w.cancelLse, w.leaseTimer = nil, nil
	}
	w.st.GridOrigin = time.Time{}
	if !w.roundBusy {
		w.startRound(ctx) // first round at once, as on register
	}
}

func (w *clusterHealth) onDisable(ctx workflow.Context, s DisableSignal) {
	w.logger.Info("Disabling health check for cluster", "cluster_id", w.reg.ClusterID, "requester", s.Requester, "reason", s.Reason, "for_seconds", s.ForSeconds)
	w.st.Enabled = false
	w.st.EnabledNote = note("disabled", s.Requester, s.Reason)
	w.cancelRoundTimer()
	if w.cancelLse != nil {
		w.cancelLse()
		w.cancelLse, w.leaseTimer = nil, nil
	}
	w.st.DisabledUntil = time.Time{}
	if s.ForSeconds > 0 {
		d := time.Duration(s.ForSeconds) * time.Second
		w.st.DisabledUntil = workflow.Now(ctx).Add(d)
		w.startLease(ctx, d)
	}
}

func (w *clusterHealth) startLease(ctx workflow.Context, d time.Duration) {
	lctx, cancel := workflow.WithCancel(ctx)
	w.cancelLse = cancel
	w.leaseTimer = workflow.NewTimerWithOptions(lctx, max(d, 0), workflow.TimerOptions{Summary: "disable lease"})
}

func note(what, who, why string) string {
	s := what
	if who != "" {
		s += " by " + who
	}
	if why != "" {
		s += ": " + why
	}
	return s
}

func (w *clusterHealth) onRecover(ctx workflow.Context, s RecoverSignal) {
	w.st.Counters.RecoverSignals++
	cid := w.reg.ClusterID
	fields := []interface{}{"cluster_id", cid, "node_id", s.NodeID, "event", s.Event, "source", s.Source, "message_id", s.MessageID}
	ignore := func(reason, detail string) {
		w.st.Counters.SignalsIgnored++
		w.st.Counters.SignalsIgnoredBy[reason]++
		w.st.LastIgnored = &IgnoredRequest{At: workflow.Now(ctx), NodeID: s.NodeID, Source: s.Source, Event: s.Event,
			Reason: reason, Detail: detail}
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{TagReason: reason}).Counter(MetricSignalsIgnored).Inc(1)
		w.logger.Info("recover signal ignored: "+detail, fields...)
	}
	dup := s.MessageID != "" && slices.Contains(w.st.SeenMessages, s.MessageID)
	if s.MessageID != "" && !dup {
		w.st.SeenMessages = append(w.st.SeenMessages, s.MessageID)
		if len(w.st.SeenMessages) > dedupeWindow {
			w.st.SeenMessages = slices.Clone(w.st.SeenMessages[len(w.st.SeenMessages)-dedupeWindow:])
		}
	}
	switch {
	case s.NodeID == "":
		ignore(IgnoredNoNodeID, "no node id")
	case dup:
		ignore(IgnoredDuplicate, "duplicate message id "+s.MessageID)
	case !w.st.Enabled:
		ignore(IgnoredDisabled, "health checks are disabled")
	case s.Project != "" && w.st.Cluster.Project != "" && s.Project != w.st.Cluster.Project:
		ignore(IgnoredOtherProject, "project "+s.Project+" is not the cluster's")
	case w.st.InFlight[s.NodeID] != nil:
		ignore(IgnoredInFlight, "node is already recovering")
	// Senlin listened for notifications only for clusters whose policy has
	// LIFECYCLE_EVENTS; runs recorded before this rule acted on them all.
	case s.FromNotification() && !w.reg.WatchesEvents() &&
		workflow.GetVersion(ctx, "lifecycle-events-gate", workflow.DefaultVersion, 1) >= 1:
		ignore(IgnoredNoLifecycleEvents, fmt.Sprintf("a %s notification, but the cluster's policy has no LIFECYCLE_EVENTS detection mode", s.Source))
	default:
		name := ""
		if ns := w.st.Nodes[s.NodeID]; ns != nil {
			name = ns.Name
		}
		reason := strings.TrimSpace(fmt.Sprintf("%s %s %s", s.Source, s.Event, s.State))
		w.logger.Info("Requesting node recovery", fields...)
		w.requestRecovery(ctx, s.NodeID, name, sourceOr(s.Source), reason, s.PhysicalID, notificationTime(s.Timestamp))
	}
}

// notificationTime reads an oslo.messaging timestamp ("2006-01-02
// 15:04:05.999999", UTC without a zone) or an RFC 3339 one; zero if neither.
func notificationTime(ts string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, ts); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func sourceOr(s string) string {
	if s == "" {
		return health.SourceSignal
	}
	return s
}

func (w *clusterHealth) onUpdate(ctx workflow.Context, s UpdateSignal) {
	r := s.Registration
	if r.ClusterID != w.reg.ClusterID {
		w.logger.Error("update signal ignored: it is for another cluster", "cluster_id", w.reg.ClusterID, "got_cluster_id", r.ClusterID)
		return
	}
	// The starter validates with its configured limits (healthclient with
	// none), and the worker's Limits are applied below; the workflow checks
	// every rule that needs no configuration, so a bad update never lands.
	if err := r.Validate(health.Limits{}); err != nil {
		w.logger.Error("update signal ignored: registration is not valid", "cluster_id", w.reg.ClusterID, "error", err.Error())
		return
	}
	old := w.reg
	r, w.limitsNote = w.limits.apply(r)
	w.reg = r
	w.logger.Info("registration updated", "cluster_id", r.ClusterID, "interval", r.Interval, "modes", len(r.DetectionModes), "limits_note", w.limitsNote)
	if !w.st.Enabled || w.roundBusy {
		return
	}
	switch {
	case !r.Polling():
		w.cancelRoundTimer()
	case !old.Polling() || w.st.LastRound.IsZero():
		w.startRound(ctx)
	default:
		next := w.st.LastRound.Add(r.RoundInterval())
		w.st.GridOrigin = w.st.LastRound
		w.scheduleRound(ctx, max(next.Sub(workflow.Now(ctx)), 0))
	}
}

func (w *clusterHealth) onUnregister(_ workflow.Context, s UnregisterSignal) {
	w.logger.Info("unregistering cluster", "cluster_id", w.reg.ClusterID, "requester", s.Requester, "reason", s.Reason)
	w.cancelRoundTimer()
	w.done = true
}

// --- continue-as-new ---

func (w *clusterHealth) shouldContinueAsNew(ctx workflow.Context) bool {
	if w.roundBusy || w.pending > 0 {
		return false
	}
	return workflow.GetInfo(ctx).GetContinueAsNewSuggested() || (w.maxRounds > 0 && w.roundsRun >= w.maxRounds)
}

func (w *clusterHealth) continueAsNew(ctx workflow.Context) error {
	// Signals already delivered to this run must not be lost: handle them here.
	for drained := false; !drained; {
		drained = true
		var e EnableSignal
		for w.enableCh.ReceiveAsync(&e) {
			w.onEnable(ctx, e)
			drained = false
		}
		var d DisableSignal
		for w.disableCh.ReceiveAsync(&d) {
			w.onDisable(ctx, d)
			drained = false
		}
		var r RecoverSignal
		for w.recoverCh.ReceiveAsync(&r) {
			w.onRecover(ctx, r)
			drained = false
		}
		var u UpdateSignal
		for w.updateCh.ReceiveAsync(&u) {
			w.onUpdate(ctx, u)
			drained = false
		}
		var un UnregisterSignal
		for w.unregisterCh.ReceiveAsync(&un) {
			w.onUnregister(ctx, un)
			drained = false
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

// --- visibility ---

func (w *clusterHealth) healthState() (string, int64) {
	var unhealthy, unknown int64
	for _, ns := range w.st.Nodes {
		switch ns.Verdict {
		case health.Unhealthy:
			unhealthy++
		case health.Unknown:
			unknown++
		}
	}
	switch {
	case !w.st.Enabled:
		return StateDisabled, unhealthy
	case len(w.st.InFlight) > 0:
		return StateRecovering, unhealthy
	case unhealthy > 0:
		return StateDegraded, unhealthy
	case unknown > 0:
		return StateUnknown, unhealthy
	case !w.reg.Polling():
		return StateEvents, unhealthy
	}
	return StateHealthy, unhealthy
}

// publish keeps search attributes and the UI details current; it writes
// search attributes only when they change, so a healthy round costs no event.
func (w *clusterHealth) publish(ctx workflow.Context) {
	state, unhealthy := w.healthState()
	cur := saValues{enabled: w.st.Enabled, state: state, unhealthy: unhealthy, set: true}
	if cur != w.lastSA {
		w.lastSA = cur
		err := workflow.UpsertTypedSearchAttributes(ctx,
			SAClusterID.ValueSet(w.reg.ClusterID),
			SAHealthEnabled.ValueSet(cur.enabled),
			SAHealthState.ValueSet(cur.state),
			SAUnhealthyNodes.ValueSet(cur.unhealthy))
		if err != nil {
			w.logger.Warn("cannot upsert search attributes", "error", err)
		}
	}
	next := "none"
	if !w.st.NextRound.IsZero() {
		next = w.st.NextRound.UTC().Format(time.RFC3339)
	}
	details := fmt.Sprintf("**%s** · %d nodes · %d unhealthy · %d recovering · rounds %d (missed %d) · next round %s\n\n%s",
		state, len(w.st.Nodes), unhealthy, len(w.st.InFlight), w.st.Counters.Rounds, w.st.Counters.MissedRounds, next, w.st.EnabledNote)
	if w.st.LastRoundError != "" {
		details += "\n\n**last round failed:** " + w.st.LastRoundError
	}
	workflow.SetCurrentDetails(ctx, details)
}

func (w *clusterHealth) status() (Status, error) {
	state, _ := w.healthState()
	s := Status{
		ClusterID:      w.reg.ClusterID,
		Registration:   w.reg,
		Enabled:        w.st.Enabled,
		EnabledNote:    w.st.EnabledNote,
		DisabledUntil:  w.st.DisabledUntil,
		State:          state,
		NextRound:      w.st.NextRound,
		LastRound:      w.st.LastRound,
		LastRoundError: w.st.LastRoundError,
		LimitsNote:     w.limitsNote,
		LastIgnored:    w.st.LastIgnored,
		RoundRunning:   w.roundBusy,
		Counters:       w.st.Counters,
		Nodes:          []NodeStatus{},
		InFlight:       []Recovery{},
		Recent:         slices.Clone(w.st.Recent),
		Runs:           w.st.Runs,
	}
	for _, id := range workflow.DeterministicKeys(w.st.Nodes) {
		s.Nodes = append(s.Nodes, NodeStatus{ID: id, NodeState: *w.st.Nodes[id], Recovering: w.st.InFlight[id] != nil})
	}
	slices.SortStableFunc(s.Nodes, func(x, y NodeStatus) int { return strings.Compare(x.Name, y.Name) })
	for _, id := range workflow.DeterministicKeys(w.st.InFlight) {
		s.InFlight = append(s.InFlight, *w.st.InFlight[id])
	}
	if s.Recent == nil {
		s.Recent = []Recovery{}
	}
	return s, nil
}
