package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// burstCap bounds the signals one settle window collects: a flood beyond it
// is judged at once, and a new window starts.
const burstCap = 1024

// A burst of lifecycle events is an outage too: recover requests (and words
// that nodes are back) are collected for the policy's event_settle from the
// first one, then judged together by the decision core, so that five
// servers of ten stopped within a second are held by max_unhealthy as a
// round that saw them would hold them. The workflow only collects and
// times; triage.Burst decides.

// settling reports whether requests are collected into settle windows.
func (w *clusterHealth) settling() bool {
	return w.does().Bursts && w.reg.Safety.Settle() > 0
}

// collect adds a signal to the open settle window, opening one if none is.
// The window is not extended by what comes later.
func (w *clusterHealth) collect(ctx workflow.Context, e BurstEvent) {
	now := workflow.Now(ctx)
	e.Received = now
	if w.st.Burst == nil {
		w.st.Burst = &Burst{Since: now, Until: now.Add(w.reg.Safety.Settle())}
		w.logger.Info("settle window opened", "cluster_id", w.reg.ClusterID, "until", w.st.Burst.Until, "node_id", e.Signal.NodeID)
	}
	w.st.Burst.Events = append(w.st.Burst.Events, e)
	if len(w.st.Burst.Events) >= burstCap {
		w.closeBurst(ctx, true)
	}
}

// closeBurst judges what the open settle window collected; early when it is
// full before its time.
func (w *clusterHealth) closeBurst(ctx workflow.Context, full bool) {
	b := w.st.Burst
	if b == nil || (!full && workflow.Now(ctx).Before(b.Until)) {
		return // closed early, or the timer of an earlier window
	}
	w.st.Burst = nil
	w.st.Counters.Bursts++
	t := triage.Burst{Events: make([]triage.BurstEvent, 0, len(b.Events))}
	first := map[string]*BurstEvent{} // each node's first failure signal
	var ids []string
	for _, e := range b.Events {
		if !e.Back && !e.Duplicate {
			ids = append(ids, e.Signal.NodeID)
		}
	}
	outside := w.nonMembers(ctx, ids)
	for i := range b.Events {
		e := &b.Events[i]
		req := requestOf(e.Signal, e.Duplicate)
		req.NotMember = !e.Back && outside[e.Signal.NodeID]
		t.Events = append(t.Events, triage.BurstEvent{Back: e.Back, Request: req})
		if _, ok := first[e.Signal.NodeID]; !ok && !e.Back {
			first[e.Signal.NodeID] = e
		}
	}
	w.logger.Info("settle window judged", "cluster_id", w.reg.ClusterID, "signals", len(b.Events), "nodes", len(first),
		"since", b.Since, "full", full)
	r, events := w.decide(ctx, t)
	for _, d := range r.Decisions {
		e := first[d.NodeID]
		switch {
		case d.Action == triage.Ignore:
			s := RecoverSignal{NodeID: d.NodeID}
			if e != nil {
				s = e.Signal
			}
			w.ignoreSignal(ctx, s, d.Reason, d.Detail)
		case d.Action == triage.Recover && !d.DryRun && e != nil:
			w.recoverForSignal(ctx, d, e.Signal)
		case d.Action == triage.Recover && !d.DryRun:
			// A node held before the window, let go with it.
			w.recoverDecided(ctx, triage.Result{Decisions: []triage.Decision{d}}, health.SourceSignal, nil, "")
		}
	}
	w.record(ctx, events)
}

// onNodeBack hears that a node is back: judged with the open settle window
// when requests are collected, at once otherwise.
func (w *clusterHealth) onNodeBack(ctx workflow.Context, s RecoverSignal) {
	if !w.does().Bursts {
		w.logger.Info("node-back signal ignored: this run predates it", signalFields(w.reg.ClusterID, s)...)
		return
	}
	w.st.Counters.NodeBackSignals++
	if d, ok := triage.Admit(w.policy(), requestOf(s, false), true); !ok {
		w.ignoreSignal(ctx, s, d.Reason, d.Detail)
		return
	}
	dup := w.seen(s.MessageID)
	if w.settling() {
		w.collect(ctx, BurstEvent{Signal: s, Back: true, Duplicate: dup})
		return
	}
	r, events := w.decide(ctx, triage.Back{Request: requestOf(s, dup)})
	for _, d := range r.Decisions {
		if d.Action == triage.Ignore {
			w.ignoreSignal(ctx, s, d.Reason, d.Detail)
		}
	}
	w.record(ctx, events)
	w.retryHeld(ctx)
}

// armTimers keeps the timers of the settle window and of the next
// confirmation in step with the state; they are not pending work, since
// both are derived from state a new run carries.
func (w *clusterHealth) armTimers(ctx workflow.Context) {
	if !w.does().Bursts {
		return
	}
	now := workflow.Now(ctx)
	if b := w.st.Burst; b != nil && w.burstTimer == nil {
		w.burstTimer = workflow.NewTimerWithOptions(ctx, max(b.Until.Sub(now), 0),
			workflow.TimerOptions{Summary: fmt.Sprintf("settle window until %s", b.Until.UTC().Format(time.RFC3339))})
	}
	next := time.Time{}
	if w.st.Enabled {
		next = triage.NextConfirm(w.policy(), &w.st.Triage)
	}
	if next.Equal(w.confirmAt) {
		return
	}
	if w.cancelConfirm != nil {
		w.cancelConfirm()
	}
	w.confirmTimer, w.cancelConfirm, w.confirmAt = nil, nil, next
	if next.IsZero() {
		return
	}
	tctx, cancel := workflow.WithCancel(ctx)
	w.cancelConfirm = cancel
	w.confirmTimer = workflow.NewTimerWithOptions(tctx, max(next.Sub(now), 0),
		workflow.TimerOptions{Summary: "confirm recovered nodes at " + next.UTC().Format(time.RFC3339)})
}
