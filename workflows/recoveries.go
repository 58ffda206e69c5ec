package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// requestRecovery asks for the recovery rec describes (its node, source,
// reason, detection time, expected physical resource, operation and step):
// it gets its idempotency key, request time and deadline here, and runs.
func (w *clusterHealth) requestRecovery(ctx workflow.Context, rec *Recovery) {
	now := workflow.Now(ctx)
	if rec.Detected.IsZero() || rec.Detected.After(now) {
		rec.Detected = now
	}
	w.st.Incidents[rec.NodeID]++
	rec.Key = fmt.Sprintf("%s/%s/%s/%d", w.reg.ClusterID, w.st.Epoch, rec.NodeID, w.st.Incidents[rec.NodeID])
	rec.Requested = now
	rec.Deadline = now.Add(w.reg.WaitBound())
	w.st.InFlight[rec.NodeID] = rec
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
			params := reg.RecoverParams()
			if r.Operation != "" {
				params.Operation = r.Operation // the escalation step's
			}
			in := activities.RecoverNodeInput{ClusterID: reg.ClusterID, NodeID: r.NodeID, Key: r.Key,
				Params: params, ExpectPhysicalID: r.ExpectPhysicalID}
			label := r.NodeName
			if label == "" {
				label = r.NodeID
			}
			err := workflow.ExecuteActivity(recoverOptions(gctx, fmt.Sprintf("recover %s (%s)", label, params.Operation)), a.RecoverNode, in).Get(gctx, &res)
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
			if res.Nodes > 0 {
				w.st.NodeCount = res.Nodes
			}
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
	_, decided := w.decide(ctx, triage.Finished{NodeID: rec.NodeID, Outcome: rec.Outcome, Step: rec.Step})
	if _, remembered := w.st.Triage.Nodes[rec.NodeID]; !remembered && !w.reg.Polling() {
		delete(w.st.Decisions, rec.NodeID) // recovered, and no round will say so
	}
	w.record(ctx, append([]health.HealthEvent{{ClusterID: w.reg.ClusterID, NodeID: rec.NodeID, At: now,
		From: health.Unhealthy, To: health.Verdict("recovery " + rec.Outcome.Label()), Reason: rec.Detail, ActionID: rec.ActionID}},
		decided...))
	w.retryHeld(ctx)
}

// record appends events to the durable timeline without blocking the loop.
func (w *clusterHealth) record(ctx workflow.Context, events []health.HealthEvent) {
	if len(events) == 0 {
		return
	}
	w.pending++
	workflow.Go(ctx, func(gctx workflow.Context) {
		err := workflow.ExecuteActivity(recordOptions(gctx, fmt.Sprintf("record %d health events", len(events))), a.RecordHealthEvents, events).Get(gctx, nil)
		if err != nil {
			w.logger.Warn("cannot record health events", "cluster_id", w.reg.ClusterID, "error", err)
		}
		w.writeDone.Send(gctx, struct{}{})
	})
}
