package workflows

import (
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// The decision core decides; the workflow keeps its memory (State.Triage),
// gives it the facts, and carries out and records what it decided.

// generation is the run's generation of rules: each step of
// triage.VersionSteps that the run has, in order, until the first it lacks
// (so that a run recorded before a step asks no further).
func generation(ctx workflow.Context) triage.Generation {
	gen := triage.GenLegacy
	for _, id := range triage.VersionSteps {
		if workflow.GetVersion(ctx, id, workflow.DefaultVersion, 1) != 1 {
			break
		}
		gen++
	}
	return gen
}

// policy is the decision core's view of the registration in this run.
func (w *clusterHealth) policy() triage.Policy {
	return triage.PolicyFor(w.reg, w.gen)
}

// facts are what the workflow knows of the cluster now.
func (w *clusterHealth) facts() triage.Facts {
	inFlight := make(map[string]string, len(w.st.InFlight))
	for id, r := range w.st.InFlight {
		inFlight[id] = r.ActionID
	}
	f := triage.Facts{Nodes: w.st.NodeCount, InFlight: inFlight, Project: w.st.Cluster.Project}
	if !w.st.Enabled {
		f.Paused = w.st.EnabledNote
		if f.Paused == "" {
			f.Paused = "health checks are disabled"
		}
	}
	return f
}

// decide runs the decision core on one trigger and keeps what it decided:
// each node's last decision and the cluster-wide hold (status), a change of
// decision (a metric, and the timeline entries it returns for the caller to
// record after it requested the recoveries), and the timers of approvals.
// Legacy runs record no entries, so that they replay the same commands.
func (w *clusterHealth) decide(ctx workflow.Context, t triage.Trigger) (triage.Result, []health.HealthEvent) {
	now := workflow.Now(ctx)
	r := triage.Decide(w.policy(), &w.st.Triage, w.facts(), t, now)
	var events []health.HealthEvent
	mh := workflow.GetMetricsHandler(ctx)
	for _, d := range r.Decisions {
		if d.Action == triage.Ignore {
			continue // the caller counts ignored requests
		}
		last := w.st.Decisions[d.NodeID]
		if d.Action == triage.Change && (d.Reason == triage.ReasonHealthyAgain || d.Reason == triage.ReasonTakenAsBack || d.Reason == triage.ReasonLeft) {
			delete(w.st.Decisions, d.NodeID)
		} else {
			dec := d
			w.st.Decisions[d.NodeID] = &NodeDecision{Decision: dec, At: now}
		}
		// A plain recovery and a node still held for the same reason are
		// not news: the timeline records changes.
		if (d.Action == triage.Recover && !d.DryRun) || (last != nil && last.Action == d.Action && last.Reason == d.Reason) {
			continue
		}
		mh.WithTags(map[string]string{TagAction: string(d.Action), TagReason: d.Reason}).Counter(MetricDecisions).Inc(1)
		w.logger.Info("decision: "+d.Detail, "cluster_id", w.reg.ClusterID, "node_id", d.NodeID, "action", string(d.Action),
			"reason", d.Reason, "operation", string(d.Operation))
		events = append(events, health.HealthEvent{ClusterID: w.reg.ClusterID, NodeID: d.NodeID, At: now,
			From: w.verdictOf(d.NodeID), To: health.Verdict(string(d.Action) + " " + d.Reason), Reason: d.Detail})
		if d.Action == triage.AwaitApproval {
			w.startApprovalTimer(ctx, d.NodeID)
		}
	}
	if _, round := t.(triage.Round); round || r.Hold != nil || r.Gated {
		events = append(events, w.setHold(ctx, r.Hold, now)...)
	}
	if !w.does().Timeline {
		events = nil
	}
	return r, events
}

// setHold records the cluster-wide hold of a round (nil: none) and returns
// the timeline entry of a change.
func (w *clusterHealth) setHold(ctx workflow.Context, hold *triage.Decision, now time.Time) []health.HealthEvent {
	was := w.st.Hold
	switch {
	case hold == nil && was == nil:
		return nil
	case hold == nil:
		w.st.Hold = nil
		w.logger.Info("cluster hold lifted", "cluster_id", w.reg.ClusterID, "was", was.Detail)
		return []health.HealthEvent{{ClusterID: w.reg.ClusterID, At: now, From: health.Verdict("cluster hold " + was.Reason),
			To: "cluster hold lifted", Reason: "back under the limit: recoveries go on"}}
	case was != nil && was.Reason == hold.Reason:
		w.st.Hold = &NodeDecision{Decision: *hold, At: was.At}
		return nil
	}
	w.st.Hold = &NodeDecision{Decision: *hold, At: now}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{TagAction: "cluster_hold", TagReason: hold.Reason}).Counter(MetricDecisions).Inc(1)
	w.logger.Warn("cluster hold: "+hold.Detail, "cluster_id", w.reg.ClusterID, "reason", hold.Reason)
	return []health.HealthEvent{{ClusterID: w.reg.ClusterID, At: now, To: health.Verdict("cluster hold " + hold.Reason), Reason: hold.Detail}}
}

// nodeName is the node's name as the last round saw it ("" when none did).
func (w *clusterHealth) nodeName(nodeID string) string {
	if ns := w.st.Nodes[nodeID]; ns != nil {
		return ns.Name
	}
	return ""
}

func (w *clusterHealth) verdictOf(nodeID string) health.Verdict {
	if ns := w.st.Nodes[nodeID]; ns != nil {
		return ns.Verdict
	}
	return ""
}

// recoverDecided requests the recoveries a trigger decided; reason and
// physicalID come from the trigger when it was a request.
func (w *clusterHealth) recoverDecided(ctx workflow.Context, r triage.Result, source string, reasons map[string]string, physicalID string) {
	for _, d := range r.Decisions {
		if d.Action != triage.Recover || d.DryRun {
			continue
		}
		name := w.nodeName(d.NodeID)
		reason := reasons[d.NodeID]
		if reason == "" {
			reason = d.Detail
		}
		w.logger.Info("Health check failed for node, recovery has started", "cluster_id", w.reg.ClusterID, "node_id", d.NodeID,
			"node", name, "operation", string(d.Operation), "step", d.Step, "reason", reason)
		w.requestRecovery(ctx, &Recovery{NodeID: d.NodeID, NodeName: name, Source: source, Reason: reason,
			ExpectPhysicalID: physicalID, Detected: d.FailingSince, Operation: d.Operation, Step: d.Step})
	}
}

// retryHeld decides again for held nodes of a cluster without rounds, whose
// only other chance would be another notification.
func (w *clusterHealth) retryHeld(ctx workflow.Context) {
	if !w.does().RetryHeld(w.reg.Polling(), w.st.Enabled) {
		return
	}
	r, events := w.decide(ctx, triage.Retry{})
	w.recoverDecided(ctx, r, health.SourceSignal, nil, "")
	w.record(ctx, events)
}

// startApprovalTimer waits for an answer until the approval's deadline, then
// applies the policy's default.
func (w *clusterHealth) startApprovalTimer(ctx workflow.Context, nodeID string) {
	m := w.st.Triage.Nodes[nodeID]
	if m == nil || m.Approval == nil {
		return
	}
	if cancel := w.approvalTimers[nodeID]; cancel != nil {
		cancel()
	}
	tctx, cancel := workflow.WithCancel(ctx)
	w.approvalTimers[nodeID] = cancel
	d := max(m.Approval.Until.Sub(workflow.Now(ctx)), 0)
	if w.does().ApprovalsPending {
		w.pending++
	}
	workflow.Go(tctx, func(gctx workflow.Context) {
		err := workflow.NewTimerWithOptions(gctx, d, workflow.TimerOptions{Summary: "approval of " + nodeID}).Get(gctx, nil)
		w.approvalDue.Send(ctx, approvalTimeout{nodeID: nodeID, fired: err == nil})
	})
}

type approvalTimeout struct {
	nodeID string
	fired  bool
}

func (w *clusterHealth) onApprovalTimeout(ctx workflow.Context, t approvalTimeout) {
	if w.does().ApprovalsPending {
		w.pending--
	}
	if !t.fired {
		return // answered in time
	}
	delete(w.approvalTimers, t.nodeID)
	r, events := w.decide(ctx, triage.Answer{NodeID: t.nodeID, Timeout: true})
	w.recoverDecided(ctx, r, health.SourceOperator, nil, "")
	w.record(ctx, events)
}

// resumeApprovals restarts the timers of approvals a previous run left
// waiting.
func (w *clusterHealth) resumeApprovals(ctx workflow.Context) {
	for _, id := range slices.Sorted(maps.Keys(w.st.Triage.Nodes)) {
		if w.st.Triage.Nodes[id].Approval != nil {
			w.startApprovalTimer(ctx, id)
		}
	}
}
