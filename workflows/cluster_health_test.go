package workflows

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
	"github.com/clusterhealth/healthd/internal/triage"
)

func urlRegistration() health.Registration {
	return health.Registration{
		ClusterID:           "c1",
		Interval:            60,
		NodeUpdateTimeout:   300,
		RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{
			Type: health.NodeStatusPollURL, PollURL: "http://nodes.test/{nodename}/health",
			PollURLSSLVerify: true, PollURLConnErrorAsUnhealthy: true,
			PollURLRetryLimit: 3, PollURLRetryInterval: 3,
		}},
		Recovery:          health.RecoveryAction{Name: health.OpRecreate},
		NodeDeleteTimeout: 20,
	}
}

// harness runs a ClusterHealth workflow in the SDK test environment with
// real activities over an in-memory engine.
type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	engine  *enginetest.Engine
	start   time.Time
	metrics *recordingMetrics
	updates int // update IDs sent so far
}

func newHarness(t *testing.T, nodes ...health.Node) *harness {
	t.Helper()
	return newLimitedHarness(t, Limits{}, nodes...)
}

// newLimitedHarness is newHarness with the workflow of a worker that enforces
// lim, counting what the workflow emits in h.metrics.
func newLimitedHarness(t *testing.T, lim Limits, nodes ...health.Node) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	m := newRecordingMetrics()
	s.SetMetricsHandler(m)
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID("c1")})
	// The clock starts on the cluster's phase, so that its rounds fall at
	// whole intervals after the start (every interval that divides a day).
	start := PhaseOrigin("c1", 24*time.Hour, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	env.SetStartTime(start)
	h := &harness{t: t, env: env, start: start, metrics: m}
	// Nodes without a creation time were created an hour before the start.
	h.engine = enginetest.New(env.Now)
	h.engine.AddCluster(health.Cluster{ID: "c1", Name: "web", Project: "p1"}, nodes...)
	env.RegisterWorkflowWithOptions(New(lim), workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivity(h.engine.Activities())
	return h
}

// blockWaits makes every WaitForAction last an hour of workflow time (the
// action stays RUNNING), without holding the test clock still as a real
// blocking activity would.
func (h *harness) blockWaits() {
	h.env.OnActivity(a.WaitForAction, mock.Anything, mock.Anything).After(time.Hour).
		Return(activities.WaitForActionResult{Status: health.ActionRunning, TimedOut: true}, nil)
}

func threeNodes() []health.Node {
	return []health.Node{{ID: "n1", Name: "web-1"}, {ID: "n2", Name: "web-2"}, {ID: "n3", Name: "web-3"}}
}

// at runs f at the given offset from the workflow start.
func (h *harness) at(d time.Duration, f func()) {
	h.env.RegisterDelayedCallback(f, d)
}

func (h *harness) status() Status {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		h.t.Fatalf("query status: %v", err)
	}
	var s Status
	if err := v.Get(&s); err != nil {
		h.t.Fatalf("decode status: %v", err)
	}
	return s
}

func (h *harness) run(in Input, end time.Duration) {
	h.t.Helper()
	h.at(end, func() { h.env.SignalWorkflow(SignalUnregister, UnregisterSignal{Requester: "test"}) })
	h.env.ExecuteWorkflow(WorkflowName, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow error: %v", err)
	}
}

func TestHealthyRounds(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	var s Status
	h.at(150*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 170*time.Second)

	// Rounds at 0, 60 and 120 s: the first one at start.
	if got, want := s.Counters.Rounds, int64(3); got != want {
		t.Errorf("rounds: got %d, want %d", got, want)
	}
	// A healthy cluster costs the workflow no memory per node: the status
	// counts the nodes, and their detail is in the store.
	if len(s.Nodes) != 0 || s.NodeCount != 3 || s.LastSweep == nil || s.LastSweep.Healthy != 3 {
		t.Fatalf("nodes: got %d listed, count %d, last sweep %+v; want none listed, 3 counted healthy", len(s.Nodes), s.NodeCount, s.LastSweep)
	}
	if got := h.engine.LastSweep("c1"); got.Nodes != 3 || got.Healthy != 3 {
		t.Errorf("the store's last sweep: got %+v, want 3 healthy", got)
	}
	if got := h.engine.ActionCount(); got != 0 {
		t.Errorf("actions: got %d, want 0", got)
	}
	if s.State != StateHealthy {
		t.Errorf("state: got %q, want %q", s.State, StateHealthy)
	}
	if got, want := s.NextRound, h.start.Add(180*time.Second); !got.Equal(want) {
		t.Errorf("next round: got %s, want %s", got, want)
	}
}

func TestUnhealthyNodeRecovered(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	var s Status
	h.at(200*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 210*time.Second)

	if got, want := h.engine.ActionCount(), 1; got != want {
		t.Fatalf("actions: got %d, want %d", got, want)
	}
	// Senlin's retry: 3 attempts in total in the failed round at 0 s, one of
	// them in the sweep; the recovery mends the node, so the rounds at 60,
	// 120 and 180 s each probe it once.
	if got, want := h.engine.ProbeCount("web-2"), 3+3; got != want {
		t.Errorf("web-2 probes: got %d, want %d", got, want)
	}
	if got, want := s.Counters.RecoveriesSucceeded, int64(1); got != want {
		t.Errorf("recoveries succeeded: got %d, want %d", got, want)
	}
	if len(s.Recent) != 1 || s.Recent[0].NodeID != "n2" || s.Recent[0].Outcome != "SUCCEEDED" {
		t.Errorf("recent recoveries: got %+v, want one SUCCEEDED for n2", s.Recent)
	}
	for _, a := range h.engine.Actions() {
		want := health.RecoverParams{Operation: health.OpRecreate, DeleteTimeout: 20}
		if a.Params.Operation != want.Operation || a.Params.DeleteTimeout != want.DeleteTimeout || a.Params.ForceRecreate {
			t.Errorf("recover params: got %+v, want %+v", a.Params, want)
		}
		if want := "c1/" + strconv.FormatInt(h.start.UnixMilli(), 36) + "/n2/1"; a.IdempotencyKey != want {
			t.Errorf("idempotency key: got %q, want %q", a.IdempotencyKey, want)
		}
	}
}

func TestFirstRoundAttemptsAreSenlinRetries(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	h.engine.SetAutoFinish(health.ActionRunning) // keep the node unhealthy, recovery in flight
	h.blockWaits()
	var s Status
	h.at(30*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 40*time.Second)

	if got, want := h.engine.ProbeCount("web-2"), 3; got != want {
		t.Errorf("web-2 attempts in the first round: got %d, want %d", got, want)
	}
	if got, want := h.engine.ProbeCount("web-1"), 1; got != want {
		t.Errorf("web-1 attempts in the first round: got %d, want %d", got, want)
	}
	if len(s.InFlight) != 1 || s.InFlight[0].NodeID != "n2" {
		t.Errorf("in flight: got %+v, want n2", s.InFlight)
	}
}

func TestNodeWithinGraceNotRecovered(t *testing.T) {
	nodes := threeNodes()
	h := newHarness(t, nodes...)
	h.engine.SetUpdatedAt("n2", h.start.Add(-100*time.Second))
	h.engine.SetHealthy("web-2", false)
	var s Status
	h.at(50*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 55*time.Second)

	if got := h.engine.ActionCount(); got != 0 {
		t.Errorf("actions: got %d, want 0 (node within grace)", got)
	}
	var n2 *NodeStatus
	for i := range s.Nodes {
		if s.Nodes[i].ID == "n2" {
			n2 = &s.Nodes[i]
		}
	}
	switch {
	case n2 == nil:
		t.Errorf("status nodes: got %+v, want n2 among them", s.Nodes)
	case n2.Verdict != health.Healthy || !strings.Contains(n2.Reason, "within grace period"):
		t.Errorf("n2: got %s (%s), want healthy within grace", n2.Verdict, n2.Reason)
	}
}

func TestDisableStopsRoundsAndEnableResumes(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	var disabled, later, enabled Status
	h.at(30*time.Second, func() {
		h.env.SignalWorkflow(SignalDisable, DisableSignal{Requester: "op", Reason: "scale-in"})
	})
	h.at(31*time.Second, func() { disabled = h.status() })
	h.at(500*time.Second, func() { later = h.status() })
	h.at(510*time.Second, func() { h.env.SignalWorkflow(SignalEnable, EnableSignal{Requester: "op"}) })
	h.at(520*time.Second, func() { enabled = h.status() })
	h.run(Input{Registration: urlRegistration()}, 530*time.Second)

	if disabled.Enabled || disabled.State != StateDisabled {
		t.Errorf("after disable: got enabled=%v state=%s, want disabled", disabled.Enabled, disabled.State)
	}
	if got, want := later.Counters.Rounds, int64(1); got != want {
		t.Errorf("rounds while disabled: got %d, want %d (only the first)", got, want)
	}
	if !later.NextRound.IsZero() {
		t.Errorf("next round while disabled: got %s, want none", later.NextRound)
	}
	if got, want := enabled.Counters.Rounds, int64(2); got != want {
		t.Errorf("rounds after enable: got %d, want %d (a round at once)", got, want)
	}
	// A round at once, at 510 s, then the cluster's phase again: 540 s.
	if got, want := enabled.NextRound, h.start.Add(540*time.Second); !got.Equal(want) {
		t.Errorf("next round after enable: got %s, want %s (on the phase)", got, want)
	}
}

func TestDisableLeaseExpires(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	var during, after Status
	h.at(10*time.Second, func() {
		h.env.SignalWorkflow(SignalDisable, DisableSignal{Requester: "engine", Reason: "CLUSTER_SCALE_IN", ForSeconds: 300})
	})
	h.at(200*time.Second, func() { during = h.status() })
	h.at(320*time.Second, func() { after = h.status() })
	h.run(Input{Registration: urlRegistration()}, 330*time.Second)

	if during.Enabled || during.DisabledUntil.IsZero() {
		t.Errorf("during lease: got enabled=%v until=%s, want disabled with an expiry", during.Enabled, during.DisabledUntil)
	}
	if !after.Enabled || after.Counters.Rounds != 2 {
		t.Errorf("after lease: got enabled=%v rounds=%d, want enabled and 2 rounds", after.Enabled, after.Counters.Rounds)
	}
}

func TestContinueAsNewCarriesState(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	h.engine.SetAutoFinish("") // the action stays READY: in flight across the new run
	h.blockWaits()
	h.env.ExecuteWorkflow(WorkflowName, Input{Registration: urlRegistration(), MaxRoundsPerRun: 2})

	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("got %v, want a continue-as-new", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatalf("decode continue-as-new input: %v", err)
	}
	if next.State == nil {
		t.Fatal("continue-as-new carries no state")
	}
	if got, want := next.State.Counters.Rounds, int64(2); got != want {
		t.Errorf("carried rounds: got %d, want %d", got, want)
	}
	rec := next.State.InFlight["n2"]
	if rec == nil || rec.ActionID == "" || !strings.HasSuffix(rec.Key, "/n2/1") {
		t.Fatalf("carried in-flight recovery: got %+v, want n2 with its action", rec)
	}
	if got, want := next.State.Incidents["n2"], int64(1); got != want {
		t.Errorf("carried incident number: got %d, want %d", got, want)
	}
	if next.MaxRoundsPerRun != 2 {
		t.Errorf("carried max rounds: got %d, want 2", next.MaxRoundsPerRun)
	}

	// The new run resumes waiting on the same action instead of asking again.
	h2 := newHarness(t, threeNodes()...)
	for _, act := range h.engine.Actions() {
		act.Status = health.ActionSucceeded // the engine finished it meanwhile
		h2.engine.AddAction(act)
	}
	h2.engine.SetAutoFinish("")
	next.MaxRoundsPerRun = 0
	var s Status
	h2.at(150*time.Second, func() { s = h2.status() })
	h2.run(next, 160*time.Second)
	if got, want := h2.engine.ActionCount(), 1; got != want {
		t.Errorf("actions after resume: got %d, want %d", got, want)
	}
	if s.Counters.RecoveriesSucceeded != 1 || s.Runs != 2 {
		t.Errorf("after resume: got succeeded=%d runs=%d, want 1 and 2", s.Counters.RecoveriesSucceeded, s.Runs)
	}
	if s.Rules != triage.Current.String() {
		t.Errorf("rules of a new run: got %q, want the current generation %q", s.Rules, triage.Current)
	}
}

// A round whose last sweep was short runs its sweep as a local activity;
// one whose last sweep was long, as an activity.
func TestShortSweepsRunAsLocalActivities(t *testing.T) {
	for _, tc := range []struct {
		name              string
		took              time.Duration
		failLocal         bool
		wantLocal, wantAT int
	}{
		{"short sweeps", time.Second, false, 4, 1},
		{"long sweeps", LocalSweepMax + time.Second, false, 0, 5},
		// Given up (failed, or out of LocalSweepTimeout): swept again as an activity.
		{"local sweeps given up", time.Second, true, 4, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, threeNodes()...)
			real := h.engine.Activities()
			h.env.OnActivity(a.CheckCluster, mock.Anything, mock.Anything).Return(
				func(ctx context.Context, in activities.CheckClusterInput) (activities.CheckClusterResult, error) {
					if tc.failLocal && activity.GetInfo(ctx).IsLocalActivity {
						return activities.CheckClusterResult{}, errors.New("local sweep out of time")
					}
					res, err := real.CheckCluster(ctx, in)
					res.Took = tc.took
					return res, err
				})
			var local, regular int
			h.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
				if info.ActivityType.Name == "CheckCluster" {
					local++
				}
			})
			h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				if info.ActivityType.Name == "CheckCluster" {
					regular++
				}
			})
			h.run(Input{Registration: urlRegistration()}, 270*time.Second) // rounds at 0, 60, 120, 180 and 240 s
			if local != tc.wantLocal || regular != tc.wantAT {
				t.Errorf("sweeps: got %d local and %d activities, want %d and %d", local, regular, tc.wantLocal, tc.wantAT)
			}
		})
	}
}
