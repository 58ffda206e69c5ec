package workflows

import (
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Cluster pauses by requester (runs with the decision core). A disable is a
// pause of its requester; checks and recoveries resume only when no pause is
// left, so one requester's enable never lifts another's (Senlin F-17, F-18).
// Every pause expires, after its own time or the policy's pause_max, unless
// it asks to be indefinite.

// newPause starts a pause (of the cluster or of a node's recoveries) now:
// for forSeconds, else for the policy's pause_max unless indefinite.
func (w *clusterHealth) newPause(ctx workflow.Context, by, reason string, forSeconds int, indefinite bool) *triage.Pause {
	now := workflow.Now(ctx)
	// A raw signal is not refused: an absurd length is kept within bounds.
	forSeconds = min(max(forSeconds, 0), health.MaxPauseSeconds)
	p := &triage.Pause{By: by, Reason: reason, Since: now}
	switch {
	case forSeconds > 0:
		p.Until = now.Add(time.Duration(forSeconds) * time.Second)
	case !indefinite:
		p.Until = now.Add(w.reg.Safety.PauseBound())
	}
	return p
}

func (w *clusterHealth) pause(ctx workflow.Context, s DisableSignal) {
	if _, again := w.st.Pauses[s.Requester]; w.does().BoundInputs && !again && len(w.st.Pauses) >= MaxPauses {
		w.st.Counters.SignalsDropped++
		w.logger.Warn("disable signal dropped: the cluster keeps at most MaxPauses pauses; lift or wait for one",
			"cluster_id", w.reg.ClusterID, "requester", s.Requester, "pauses", len(w.st.Pauses))
		return
	}
	p := w.newPause(ctx, s.Requester, s.Reason, s.ForSeconds, s.Indefinite)
	if w.st.Pauses == nil {
		w.st.Pauses = map[string]*triage.Pause{}
	}
	w.st.Pauses[s.Requester] = p
	w.logger.Info("Disabling health check for cluster", "cluster_id", w.reg.ClusterID, "requester", s.Requester,
		"reason", s.Reason, "until", p.Until, "pauses", len(w.st.Pauses))
	w.st.Enabled = false
	w.cancelRoundTimer()
	w.pausesChanged(ctx)
}

func (w *clusterHealth) liftPause(ctx workflow.Context, s EnableSignal) {
	if s.All {
		w.st.Pauses = nil
	} else {
		delete(w.st.Pauses, s.Requester)
	}
	if len(w.st.Pauses) > 0 {
		w.logger.Info("enable lifts this requester's pause only; others remain", "cluster_id", w.reg.ClusterID,
			"requester", s.Requester, "remaining", w.pauseNote())
		w.pausesChanged(ctx)
		return
	}
	if w.st.Enabled {
		w.logger.Info("health check is already enabled", "cluster_id", w.reg.ClusterID, "requester", s.Requester, "reason", s.Reason)
		return
	}
	w.logger.Info("Enabling health check for cluster", "cluster_id", w.reg.ClusterID, "requester", s.Requester, "reason", s.Reason)
	w.enable(ctx, note("enabled", s.Requester, s.Reason))
}

// expirePauses drops the pauses whose time is up, resuming checks when none
// is left.
func (w *clusterHealth) expirePauses(ctx workflow.Context) {
	now := workflow.Now(ctx)
	for who, p := range w.st.Pauses {
		if !p.Active(now) {
			delete(w.st.Pauses, who)
		}
	}
	if len(w.st.Pauses) == 0 {
		w.logger.Info("disable lease expired, checks resume", "cluster_id", w.reg.ClusterID)
		w.enable(ctx, "every pause expired")
		return
	}
	w.pausesChanged(ctx)
}

// pausesChanged keeps the note, the end of the pauses and the timer in step
// with the pauses left.
func (w *clusterHealth) pausesChanged(ctx workflow.Context) {
	w.st.EnabledNote = w.pauseNote()
	// Checks resume when the last pause ends: never by itself while one is
	// indefinite.
	w.st.DisabledUntil = time.Time{}
	for _, p := range w.st.Pauses {
		if p.Until.IsZero() {
			w.st.DisabledUntil = time.Time{}
			break
		}
		if p.Until.After(w.st.DisabledUntil) {
			w.st.DisabledUntil = p.Until
		}
	}
	w.armPauseTimer(ctx)
}

// armPauseTimer wakes the loop when the earliest pause expires.
func (w *clusterHealth) armPauseTimer(ctx workflow.Context) {
	if w.cancelLse != nil {
		w.cancelLse()
		w.cancelLse, w.leaseTimer = nil, nil
	}
	var next time.Time
	for _, p := range w.st.Pauses {
		if !p.Until.IsZero() && (next.IsZero() || p.Until.Before(next)) {
			next = p.Until
		}
	}
	if !next.IsZero() {
		w.startLease(ctx, next.Sub(workflow.Now(ctx)))
	}
}

// pauseNote says who paused the cluster and why, one pause after another.
func (w *clusterHealth) pauseNote() string {
	var parts []string
	for _, who := range slices.Sorted(maps.Keys(w.st.Pauses)) {
		p := w.st.Pauses[who]
		s := note("disabled", who, p.Reason)
		if p.Until.IsZero() {
			s += " (until lifted)"
		} else {
			s += " (until " + p.Until.UTC().Format(time.RFC3339) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
