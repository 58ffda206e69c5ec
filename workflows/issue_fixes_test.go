package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Notifications from the bridge recover nodes only of clusters whose policy
// has LIFECYCLE_EVENTS, as in Senlin; an operator's or the engine's request is
// acted on either way.
func TestNotificationsNeedLifecycleEvents(t *testing.T) {
	cases := []struct {
		name    string
		reg     health.Registration
		sig     RecoverSignal
		actions int
	}{
		{"nova to a polling-only cluster", urlRegistration(), RecoverSignal{NodeID: "n1", Source: health.SourceNova, Event: "SHUTDOWN"}, 0},
		{"heat to a polling-only cluster", urlRegistration(), RecoverSignal{NodeID: "n1", Source: health.SourceHeat, Event: "DELETE"}, 0},
		{"operator to a polling-only cluster", urlRegistration(), RecoverSignal{NodeID: "n1", Source: health.SourceOperator}, 1},
		{"engine to a polling-only cluster", urlRegistration(), RecoverSignal{NodeID: "n1", Source: "engine"}, 1},
		{"nova to an events cluster", eventsRegistration(), RecoverSignal{NodeID: "n1", Source: health.SourceNova, Event: "SHUTDOWN"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, threeNodes()...)
			h.at(10*time.Second, func() { h.env.SignalWorkflow(SignalRecover, tc.sig) })
			var s Status
			h.at(20*time.Second, func() { s = h.status() })
			h.run(Input{Registration: tc.reg}, 30*time.Second)
			if got := h.engine.ActionCount(); got != tc.actions {
				t.Errorf("actions: got %d, want %d", got, tc.actions)
			}
			ignored := s.Counters.SignalsIgnoredBy[triage.ReasonNoLifecycle]
			if tc.actions == 0 {
				if ignored != 1 || s.LastIgnored == nil || s.LastIgnored.Reason != triage.ReasonNoLifecycle ||
					!strings.Contains(s.LastIgnored.Detail, "LIFECYCLE_EVENTS") {
					t.Errorf("status: got ignored %d, last %+v, want one ignored for no LIFECYCLE_EVENTS", ignored, s.LastIgnored)
				}
				if got := h.metrics.counter(MetricSignalsIgnored, TagReason, triage.ReasonNoLifecycle); got != 1 {
					t.Errorf("ignored metric: got %d, want 1", got)
				}
			} else if ignored != 0 || s.LastIgnored != nil {
				t.Errorf("status: got ignored %d, last %+v, want none", ignored, s.LastIgnored)
			}
		})
	}
}

// A recovery whose action outlives its wait bound is reported overdue but
// stays in flight and watched: no second action is asked for while it runs,
// and its real outcome is recorded when it ends (Senlin F-19).
func TestOverdueRecoveryIsWatchedToItsEnd(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	h.engine.SetAutoFinish("") // the action stays READY: the node keeps failing
	// The round at 0 s asks at about 6 s (two URL retries 3 s apart); the
	// bound is node_update_timeout, 300 s; the action ends 200 s after that.
	h.env.OnActivity(a.WaitForAction, mock.Anything, mock.Anything).After(300*time.Second).
		Return(activities.WaitForActionResult{Status: health.ActionRunning, TimedOut: true}, nil).Once()
	h.env.OnActivity(a.WaitForAction, mock.Anything, mock.Anything).After(200*time.Second).
		Return(activities.WaitForActionResult{Status: health.ActionSucceeded, Reason: "recreated"}, nil).Once()
	var overdue, after Status
	h.at(400*time.Second, func() { overdue = h.status() })
	h.at(505*time.Second, func() { h.engine.SetHealthy("web-2", true) })
	h.at(560*time.Second, func() { after = h.status() })
	h.run(Input{Registration: urlRegistration()}, 570*time.Second)

	if len(overdue.InFlight) != 1 || !overdue.InFlight[0].Overdue || overdue.Counters.RecoveriesTimedOut != 1 {
		t.Errorf("at 400 s: got in flight %+v, timed out %d, want n2 overdue and 1", overdue.InFlight, overdue.Counters.RecoveriesTimedOut)
	}
	if overdue.State != StateRecovering {
		t.Errorf("at 400 s: got state %s, want %s", overdue.State, StateRecovering)
	}
	if got := h.engine.ActionCount(); got != 1 {
		t.Errorf("actions over 9 failed rounds: got %d, want 1", got)
	}
	if len(after.InFlight) != 0 || len(after.Recent) != 1 || after.Recent[0].Outcome != health.OutcomeSucceeded ||
		!after.Recent[0].Overdue || after.Counters.RecoveriesSucceeded != 1 {
		t.Errorf("at 560 s: got in flight %+v recent %+v, want one SUCCEEDED and overdue", after.InFlight, after.Recent)
	}
	if got := h.metrics.counter(MetricRecoveriesOverdue); got != 1 {
		t.Errorf("overdue metric: got %d, want 1", got)
	}
	if !slices.ContainsFunc(h.engine.Events(), func(e health.HealthEvent) bool { return e.To == "recovery overdue" && e.NodeID == "n2" }) {
		t.Errorf("health events: got %+v, want a recovery overdue event for n2", h.engine.Events())
	}
}

// The wait bound is healthd.recovery_wait_timeout when set, and
// node_update_timeout, the grace period, otherwise (Senlin F-20).
func TestWaitBoundIsItsOwnSetting(t *testing.T) {
	for _, wait := range []int{0, 900} {
		h := newHarness(t, threeNodes()...)
		h.engine.SetHealthy("web-2", false)
		h.engine.SetAutoFinish("")
		h.blockWaits()
		reg := urlRegistration()
		reg.WaitTimeout = wait
		var s Status
		h.at(30*time.Second, func() { s = h.status() })
		h.run(Input{Registration: reg}, 40*time.Second)
		want := time.Duration(wait) * time.Second
		if wait == 0 {
			want = reg.Grace()
		}
		if len(s.InFlight) != 1 {
			t.Fatalf("wait %d: got in flight %+v, want one", wait, s.InFlight)
		}
		if got := s.InFlight[0].Deadline.Sub(s.InFlight[0].Requested); got != want {
			t.Errorf("wait %d: got a bound of %s, want %s", wait, got, want)
		}
	}
}

// The worker's interval limits apply to every registration it runs, however
// it arrived: the start input and update signals alike.
func TestWorkerLimitsApplyToEveryRegistration(t *testing.T) {
	h := newLimitedHarness(t, Limits{IntervalMin: 120, IntervalMax: 600}, threeNodes()...)
	reg := urlRegistration() // interval 60, below the minimum
	slow := urlRegistration()
	slow.Interval = 7200 // above the maximum
	var first, updated Status
	h.at(250*time.Second, func() { first = h.status() })
	h.at(260*time.Second, func() { h.env.SignalWorkflow(SignalUpdate, UpdateSignal{Registration: slow}) })
	h.at(270*time.Second, func() { updated = h.status() })
	h.run(Input{Registration: reg}, 280*time.Second)

	if first.Counters.Rounds != 3 || !strings.Contains(first.LimitsNote, "HEALTH_CHECK_INTERVAL_MIN of 120 s") {
		t.Errorf("first registration: got %d rounds in 250 s, note %q, want 3 (at 0, 120, 240 s) and a note on the minimum",
			first.Counters.Rounds, first.LimitsNote)
	}
	if first.Registration.Interval != 120 || first.Registration.IntervalMax != 600 {
		t.Errorf("first registration: got interval %d max %d, want 120 and 600", first.Registration.Interval, first.Registration.IntervalMax)
	}
	if !strings.Contains(updated.LimitsNote, "CHECK_INTERVAL_MAX of 600 s") || updated.Registration.RoundInterval() != 600*time.Second {
		t.Errorf("updated: got note %q, round interval %s, want the maximum of 600 s", updated.LimitsNote, updated.Registration.RoundInterval())
	}
}

// Checks count final verdicts, after confirmation and grace, skipped nodes
// among them; the detection-to-recovery time runs from the first failed round.
func TestMetricsCountFinalVerdicts(t *testing.T) {
	nodes := append(threeNodes(), health.Node{ID: "n4", Name: "web-4", Status: health.NodeUpdating})
	h := newHarness(t, nodes...)
	h.engine.SetHealthy("web-2", false)
	h.engine.SetUpdatedAt("n1", h.start.Add(-10*time.Second)) // web-1: within grace
	h.engine.SetHealthy("web-1", false)
	var s Status
	h.at(30*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 40*time.Second)

	// One round: web-1 healthy within grace, web-2 unhealthy after its
	// retries, web-3 healthy, web-4 skipped (not ACTIVE).
	for verdict, want := range map[health.Verdict]int64{health.Healthy: 2, health.Unhealthy: 1, health.Skipped: 1, health.Unknown: 0} {
		if got := h.metrics.counter(MetricChecks, TagVerdict, string(verdict)); got != want {
			t.Errorf("checks %s: got %d, want %d", verdict, got, want)
		}
	}
	if got := h.metrics.counter(MetricRounds); got != 1 {
		t.Errorf("rounds: got %d, want 1", got)
	}
	if got := h.metrics.counter(MetricRecoveries, TagOutcome, "succeeded"); got != 1 {
		t.Errorf("succeeded recoveries: got %d, want 1", got)
	}
	if len(s.Recent) != 1 || !s.Recent[0].Detected.Equal(h.start) {
		t.Fatalf("recent: got %+v, want one recovery detected at the round's start %s", s.Recent, h.start)
	}
	// The round started at 0 s and asked after two retries 3 s apart; the
	// fake engine ends the action as it is asked.
	got := h.metrics.timer(MetricDetectionToRecovery)
	if len(got) != 1 || got[0] < 6*time.Second || got[0] > 7*time.Second {
		t.Errorf("detection to recovery: got %v, want one sample of about 6 s (from the first failed check)", got)
	}
}

// A notification's own timestamp starts its detection-to-recovery time.
func TestNotificationTimestampStartsDetection(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	sent := h.start.Add(5 * time.Second)
	h.at(10*time.Second, func() {
		h.env.SignalWorkflow(SignalRecover, RecoverSignal{NodeID: "n1", Source: health.SourceNova,
			Timestamp: sent.Format("2006-01-02 15:04:05.999999")})
	})
	var s Status
	h.at(20*time.Second, func() { s = h.status() })
	h.run(Input{Registration: eventsRegistration()}, 30*time.Second)
	if len(s.Recent) != 1 || !s.Recent[0].Detected.Equal(sent) {
		t.Fatalf("recent: got %+v, want one recovery detected at %s", s.Recent, sent)
	}
	// 5 s late, plus the settle window the request waited in.
	if got, want := h.metrics.timer(MetricDetectionToRecovery), 5*time.Second+health.DefaultEventSettle*time.Second; len(got) != 1 || got[0] != want {
		t.Errorf("detection to recovery: got %v, want [%s]", got, want)
	}
}

// The policy's fencing and the action's params reach the recovery request
// (Senlin dropped both, F-16).
func TestRecoveryCarriesParamsAndFencing(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	reg := urlRegistration()
	reg.Recovery = health.RecoveryAction{Name: health.OpReboot, Params: map[string]any{"type": "SOFT"}}
	reg.Fencing = []string{"COMPUTE"}
	h.run(Input{Registration: reg}, 30*time.Second)
	if h.engine.ActionCount() != 1 {
		t.Fatalf("actions: got %d, want 1", h.engine.ActionCount())
	}
	for _, act := range h.engine.Actions() {
		p := act.Params
		if p.Operation != health.OpReboot || p.OperationParams["type"] != "SOFT" || !slices.Equal(p.Fencing, []string{"COMPUTE"}) {
			t.Errorf("params: got %+v, want REBOOT type SOFT with fencing COMPUTE", p)
		}
	}
}

// A raw start with a cluster ID that breaks the rule, or that is not the
// workflow's, fails at once; a malformed raw recover signal is dropped and
// counted with the field named.
func TestRawInputIsChecked(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	bad := urlRegistration()
	bad.ClusterID = "c1/../x"
	h.env.ExecuteWorkflow(WorkflowName, Input{Registration: bad})
	if err := h.env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "cluster_id") {
		t.Errorf("bad cluster ID: got %v, want the workflow refused naming cluster_id", err)
	}

	h = newHarness(t, threeNodes()...)
	h.at(10*time.Second, func() {
		h.env.SignalWorkflow(SignalRecover, RecoverSignal{NodeID: "n1", Event: strings.Repeat("x", 5000), Source: health.SourceOperator})
	})
	var s Status
	h.at(20*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 30*time.Second)
	if h.engine.ActionCount() != 0 || s.LastIgnored == nil || s.LastIgnored.Reason != triage.ReasonInvalid || !strings.Contains(s.LastIgnored.Detail, "event") {
		t.Errorf("oversized event: got %d actions, last ignored %+v, want none and invalid_request naming event", h.engine.ActionCount(), s.LastIgnored)
	}
}
