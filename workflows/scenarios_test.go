package workflows

import (
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Scenario numbers refer to section 7 of the Senlin health reference.

// Scenario 29: a round lasting 150 s with interval 60 reports 2 missed
// intervals and the next round starts 180 s after the previous start.
func TestScenario29_OverrunningRoundSkipsMissedSlots(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.env.OnActivity(a.CheckCluster, mock.Anything, mock.Anything).After(150*time.Second).
		Return(activities.CheckClusterResult{Cluster: h.engine.Cluster("c1")}, nil).Once()
	var s Status
	h.at(160*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 170*time.Second)
	if got, want := s.Counters.MissedRounds, int64(2); got != want {
		t.Errorf("missed rounds: got %d, want %d", got, want)
	}
	if got, want := s.NextRound, h.start.Add(180*time.Second); !got.Equal(want) {
		t.Errorf("next round: got %s, want %s", got, want)
	}
}

// Scenario 30: interval 7200 with check_interval_max 3600 runs every 3600 s.
func TestScenario30_IntervalCap(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	reg := urlRegistration()
	reg.Interval, reg.IntervalMax = 7200, 3600
	var s Status
	h.at(3700*time.Second, func() { s = h.status() })
	h.run(Input{Registration: reg}, 3710*time.Second)
	if got, want := s.Counters.Rounds, int64(2); got != want {
		t.Errorf("rounds in 3700 s: got %d, want %d", got, want)
	}
}

// Scenario 16: registered disabled, nothing runs until enabled; enabling
// starts a round at once.
func TestScenario16_RegisteredDisabled(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	var before, after Status
	h.at(300*time.Second, func() { before = h.status() })
	h.at(301*time.Second, func() { h.env.SignalWorkflow(SignalEnable, EnableSignal{}) })
	h.at(302*time.Second, func() { after = h.status() })
	h.run(Input{Registration: urlRegistration(), Disabled: true}, 310*time.Second)
	if before.Counters.Rounds != 0 || before.Enabled {
		t.Errorf("before enable: got rounds=%d enabled=%v, want 0 and false", before.Counters.Rounds, before.Enabled)
	}
	if after.Counters.Rounds != 1 || !after.Enabled {
		t.Errorf("after enable: got rounds=%d enabled=%v, want 1 and true", after.Counters.Rounds, after.Enabled)
	}
}

// Scenario 25: enable on a running check does not start a second loop.
func TestScenario25_IdempotentEnable(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	for _, d := range []time.Duration{10, 20, 30} {
		h.at(d*time.Second, func() { h.env.SignalWorkflow(SignalEnable, EnableSignal{}) })
	}
	var s Status
	h.at(250*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 260*time.Second)
	if got, want := s.Counters.Rounds, int64(5); got != want { // 0, 60, 120, 180, 240
		t.Errorf("rounds: got %d, want %d", got, want)
	}
}

func eventsRegistration() health.Registration {
	r := urlRegistration()
	r.DetectionModes = []health.DetectionMode{{Type: health.LifecycleEvents}}
	return r
}

// Scenarios 66, 76, 78 and the project rule: recover signals from the bridge,
// judged each alone (event_settle 0) and in a settle window (the default),
// where a second request for a node is merged into the first.
func TestRecoverSignalRules(t *testing.T) {
	zero := 0
	for _, tc := range []struct {
		name   string
		settle *int
		// ignored is what each ignored signal was ignored for.
		ignored map[string]int64
	}{
		{"each alone", &zero, map[string]int64{triage.ReasonDuplicate: 1, triage.ReasonInFlight: 1, triage.ReasonOtherProject: 1, triage.ReasonPaused: 1}},
		{"in a settle window", nil, map[string]int64{triage.ReasonDuplicate: 1, triage.ReasonMerged: 1, triage.ReasonOtherProject: 1, triage.ReasonPaused: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, threeNodes()...)
			h.engine.SetAutoFinish("") // the first recovery stays in flight
			h.blockWaits()
			sig := RecoverSignal{NodeID: "n1", Event: "SHUTDOWN", Source: "nova", MessageID: "m1", Project: "p1"}
			send := func(d time.Duration, s RecoverSignal) {
				h.at(d, func() { h.env.SignalWorkflow(SignalRecover, s) })
			}
			send(10*time.Second, sig)                                          // recovers n1
			send(11*time.Second, sig)                                          // duplicate message id
			send(12*time.Second, RecoverSignal{NodeID: "n1", MessageID: "m2"}) // n1 already recovering, or merged
			send(13*time.Second, RecoverSignal{NodeID: "n2", MessageID: "m3", Project: "other"})
			h.at(20*time.Second, func() { h.env.SignalWorkflow(SignalDisable, DisableSignal{}) })
			send(21*time.Second, RecoverSignal{NodeID: "n3", MessageID: "m4"}) // disabled
			var s Status
			h.at(30*time.Second, func() { s = h.status() })
			reg := eventsRegistration()
			reg.Safety.EventSettle = tc.settle
			h.run(Input{Registration: reg}, 40*time.Second)

			if got, want := h.engine.ActionCount(), 1; got != want {
				t.Errorf("actions: got %d, want %d", got, want)
			}
			if got, want := s.Counters.SignalsIgnored, int64(4); got != want {
				t.Errorf("ignored signals: got %d, want %d", got, want)
			}
			if !maps.Equal(s.Counters.SignalsIgnoredBy, tc.ignored) {
				t.Errorf("ignored signals by reason: got %v, want %v", s.Counters.SignalsIgnoredBy, tc.ignored)
			}
			if s.Counters.Rounds != 0 {
				t.Errorf("rounds of an events-only cluster: got %d, want 0", s.Counters.Rounds)
			}
			for _, act := range h.engine.Actions() {
				if act.NodeID != "n1" || act.Params.Operation != health.OpRecreate {
					t.Errorf("action: got %+v, want RECREATE of n1", act)
				}
			}
		})
	}
}

// Scenario 40: a node with a recovery in flight is not recovered again by a
// later round, even when its recovery outlives several rounds.
func TestScenario40_NoDuplicateRecovery(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-3", false)
	h.engine.SetAutoFinish("")
	h.blockWaits()
	var s Status
	h.at(250*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 260*time.Second)
	if got, want := h.engine.ActionCount(), 1; got != want {
		t.Errorf("actions over 5 rounds: got %d, want %d", got, want)
	}
	if s.State != StateRecovering || len(s.InFlight) != 1 {
		t.Errorf("state: got %s with %d in flight, want recovering with 1", s.State, len(s.InFlight))
	}
}

// Scenarios 53 and 54 over engine-reported status and hypervisor modes.
func TestScenario53_54_Conditionals(t *testing.T) {
	cases := []struct {
		name     string
		cond     health.Conditional
		physical string
		hvState  string
		want     int
	}{
		{"any failed, status fails", health.AnyFailed, "SHUTOFF", "up", 1},
		{"any failed, all pass", health.AnyFailed, "ACTIVE", "up", 0},
		{"all failed, one passes", health.AllFailed, "SHUTOFF", "up", 0},
		{"all failed, both fail", health.AllFailed, "SHUTOFF", "down", 1},
		{"unknown never recovers", health.AnyFailed, "", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The engine reported both just before the workflow started.
			seen := time.Date(2026, 1, 1, 11, 59, 50, 0, time.UTC)
			nodes := []health.Node{{ID: "n1", Name: "vm-1", PhysicalID: "srv-1", PhysicalStatus: tc.physical, PhysicalStatusAt: seen,
				HypervisorState: tc.hvState, HypervisorStatus: "enabled", HypervisorAt: seen}}
			if tc.hvState == "" {
				nodes[0].HypervisorStatus = ""
			}
			h := newHarness(t, nodes...)
			reg := urlRegistration()
			reg.RecoveryConditional = tc.cond
			reg.DetectionModes = []health.DetectionMode{{Type: health.NodeStatusPolling}, {Type: health.HypervisorStatusPolling}}
			h.run(Input{Registration: reg}, 30*time.Second)
			if got := h.engine.ActionCount(); got != tc.want {
				t.Errorf("actions: got %d, want %d", got, tc.want)
			}
		})
	}
}

// Scenario 31: a missing cluster record skips rounds, and after a bounded
// number of them the registration ends by itself.
func TestScenario31_MissingClusterEndsRegistration(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.RemoveCluster("c1")
	// Rounds at 0, 60, ..., 540 s: the tenth ends the registration.
	var before Status
	h.at(530*time.Second, func() { before = h.status() })
	h.env.ExecuteWorkflow(WorkflowName, Input{Registration: urlRegistration()})
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("got completed=%v err=%v, want a clean end", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if before.Counters.Rounds != 9 {
		t.Errorf("rounds at 530 s: got %d, want 9 (still registered)", before.Counters.Rounds)
	}
	if got, want := h.env.Now().Sub(h.start), 540*time.Second; got != want {
		t.Errorf("ended after %s, want %s (the tenth missing round)", got, want)
	}
	if got, want := h.engine.ClusterReads(), missingClusterLimit+1; got != want {
		t.Errorf("cluster reads: got %d, want %d (the describe at start and one per round)", got, want)
	}
}

// An update with an invalid registration is ignored; a valid one changes the
// interval from the next round on.
func TestUpdateSignalIsValidated(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	bad := urlRegistration()
	bad.DetectionModes[0].PollURL = "ftp://x/{nodename}"
	good := urlRegistration()
	good.Interval = 120
	h.at(10*time.Second, func() { h.env.SignalWorkflow(SignalUpdate, UpdateSignal{Registration: bad}) })
	var afterBad, afterGood Status
	h.at(20*time.Second, func() { afterBad = h.status() })
	h.at(30*time.Second, func() { h.env.SignalWorkflow(SignalUpdate, UpdateSignal{Registration: good}) })
	h.at(40*time.Second, func() { afterGood = h.status() })
	h.run(Input{Registration: urlRegistration()}, 50*time.Second)
	if afterBad.Registration.DetectionModes[0].PollURL != urlRegistration().DetectionModes[0].PollURL {
		t.Errorf("after a bad update: got %s, want the old poll URL", afterBad.Registration.DetectionModes[0].PollURL)
	}
	if afterGood.Registration.Interval != 120 || !afterGood.NextRound.Equal(h.start.Add(120*time.Second)) {
		t.Errorf("after a good update: got interval %d next %s, want 120 and start+120s", afterGood.Registration.Interval, afterGood.NextRound)
	}
}
