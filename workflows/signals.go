package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// dropInvalid drops a raw signal that breaks the input rules (healthclient
// refuses such signals; the raw API does not), saying which: true when
// dropped.
func (w *clusterHealth) dropInvalid(name string, err error) bool {
	if !w.does().BoundInputs || err == nil {
		return false
	}
	w.st.Counters.SignalsDropped++
	w.logger.Warn(name+" signal dropped: "+strings.Join(strings.Fields(err.Error()), " "), "cluster_id", w.reg.ClusterID)
	return true
}

func (w *clusterHealth) onEnable(ctx workflow.Context, s EnableSignal) {
	if w.dropInvalid(SignalEnable, s.Validate()) {
		return
	}
	if w.does().Pauses {
		w.liftPause(ctx, s)
		return
	}
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
	if w.dropInvalid(SignalDisable, s.Validate()) {
		return
	}
	if w.does().Pauses {
		w.pause(ctx, s)
		return
	}
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
	fields := signalFields(w.reg.ClusterID, s)
	ignore := func(reason, detail string) { w.ignoreSignal(ctx, s, reason, detail) }
	req := requestOf(s, false)
	if d, ok := triage.Admit(w.policy(), req, false); !ok {
		ignore(d.Reason, d.Detail)
		return
	}
	dup := w.seen(s.MessageID)
	if w.settling() {
		w.collect(ctx, BurstEvent{Signal: s, Duplicate: dup})
		return
	}
	req.Duplicate = dup
	if !dup {
		req.NotMember = w.nonMembers(ctx, []string{s.NodeID})[s.NodeID]
	}
	r, events := w.decide(ctx, req)
	if len(r.Decisions) == 1 {
		switch d := r.Decisions[0]; {
		case d.Action == triage.Ignore:
			ignore(d.Reason, d.Detail)
		case d.Action == triage.Recover && !d.DryRun:
			w.recoverForSignal(ctx, d, s)
		default:
			w.logger.Info("recover request not acted on now: "+d.Detail, fields...)
		}
	}
	w.record(ctx, events)
}

// requestOf is the decision core's view of a recover (or node-back) signal,
// with the input rule it breaks, if any (one line, for records).
func requestOf(s RecoverSignal, duplicate bool) triage.Request {
	r := triage.Request{NodeID: s.NodeID, Source: sourceOr(s.Source), Reason: signalReason(s),
		Notification: s.FromNotification(), Duplicate: duplicate, Project: s.Project, At: notificationTime(s.Timestamp)}
	if err := s.Validate(); err != nil {
		r.Invalid = strings.Join(strings.Fields(err.Error()), " ")
	}
	return r
}

// recoverForSignal requests the recovery decided for the node of signal s:
// detected at the notification's own time when it has one.
func (w *clusterHealth) recoverForSignal(ctx workflow.Context, d triage.Decision, s RecoverSignal) {
	detected := notificationTime(s.Timestamp)
	if detected.IsZero() {
		detected = d.FailingSince
	}
	w.logger.Info("Requesting node recovery", signalFields(w.reg.ClusterID, s)...)
	w.requestRecovery(ctx, &Recovery{NodeID: d.NodeID, NodeName: w.nodeName(d.NodeID), Source: sourceOr(s.Source),
		Reason: signalReason(s), ExpectPhysicalID: s.PhysicalID, Detected: detected, Operation: d.Operation, Step: d.Step})
}

// signalFields are the log fields of a recover or node-back signal.
func signalFields(clusterID string, s RecoverSignal) []interface{} {
	return []interface{}{"cluster_id", clusterID, "node_id", s.NodeID, "event", s.Event, "source", s.Source, "message_id", s.MessageID}
}

// signalReason says what a signal reports, for records.
func signalReason(s RecoverSignal) string {
	return strings.TrimSpace(fmt.Sprintf("%s %s %s", s.Source, s.Event, s.State))
}

// ignoreSignal counts and records a recover (or node-back) signal that is
// not acted on.
func (w *clusterHealth) ignoreSignal(ctx workflow.Context, s RecoverSignal, reason, detail string) {
	w.st.Counters.SignalsIgnored++
	w.st.Counters.SignalsIgnoredBy[reason]++
	w.st.LastIgnored = &IgnoredRequest{At: workflow.Now(ctx), NodeID: s.NodeID, Source: s.Source, Event: s.Event,
		Reason: reason, Detail: detail}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{TagReason: reason}).Counter(MetricSignalsIgnored).Inc(1)
	w.logger.Info("recover signal ignored: "+detail, signalFields(w.reg.ClusterID, s)...)
}

// seen reports whether a message ID is in the dedupe window, and remembers
// it.
func (w *clusterHealth) seen(messageID string) bool {
	if messageID == "" {
		return false
	}
	if slices.Contains(w.st.SeenMessages, messageID) {
		return true
	}
	w.st.SeenMessages = append(w.st.SeenMessages, messageID)
	if len(w.st.SeenMessages) > dedupeWindow {
		w.st.SeenMessages = slices.Clone(w.st.SeenMessages[len(w.st.SeenMessages)-dedupeWindow:])
	}
	return false
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
		w.st.GridOrigin = w.st.LastRound
		if w.does().RoundPhases {
			// The new grid keeps the cluster's phase.
			w.phaseGrid(w.st.LastRound)
		}
		next := w.st.GridOrigin.Add(r.RoundInterval())
		w.scheduleRound(ctx, max(next.Sub(workflow.Now(ctx)), 0))
	}
}

func (w *clusterHealth) onUnregister(_ workflow.Context, s UnregisterSignal) {
	w.logger.Info("unregistering cluster", "cluster_id", w.reg.ClusterID, "requester", s.Requester, "reason", s.Reason)
	w.cancelRoundTimer()
	w.done = true
}

// signalHandler receives one signal and hands it to its handler: from the
// main loop's selector when it is ready, and from the drain before the run
// continues as new, so that both take the same path.
type signalHandler struct {
	ch      workflow.ReceiveChannel
	receive func(ctx workflow.Context)
	// drain handles one signal already delivered, if there is one.
	drain func(ctx workflow.Context) bool
}

func onSignal[T any](ctx workflow.Context, name string, handle func(workflow.Context, T)) signalHandler {
	ch := workflow.GetSignalChannel(ctx, name)
	return signalHandler{
		ch: ch,
		receive: func(ctx workflow.Context) {
			var v T
			ch.Receive(ctx, &v)
			handle(ctx, v)
		},
		drain: func(ctx workflow.Context) bool {
			var v T
			if !ch.ReceiveAsync(&v) {
				return false
			}
			handle(ctx, v)
			return true
		},
	}
}
