package workflows

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

func tenNodes() []health.Node {
	var ns []health.Node
	for i := 1; i <= 10; i++ {
		ns = append(ns, health.Node{ID: fmt.Sprintf("n%d", i), Name: fmt.Sprintf("web-%d", i)})
	}
	return ns
}

// updateOutcome is filled in once an update sent with h.update is done.
type updateOutcome struct {
	res UpdateResult
	err error
}

// update sends an operator update; the outcome holds its result, or the
// error that refused it, once the environment processed it.
func (h *harness) update(name string, arg any) *updateOutcome {
	out := &updateOutcome{}
	h.updates++
	h.env.UpdateWorkflow(name, fmt.Sprintf("u%d", h.updates), &testsuite.TestUpdateCallback{
		OnReject: func(e error) { out.err = e },
		OnAccept: func() {},
		OnComplete: func(v any, e error) {
			out.err = e
			out.res, _ = v.(UpdateResult)
		},
	}, arg)
	return out
}

func decisionOf(s Status, nodeID string) *NodeDecision {
	for i := range s.Decisions {
		if s.Decisions[i].NodeID == nodeID {
			return &s.Decisions[i]
		}
	}
	return nil
}

// A zone outage: 5 of 10 nodes fail together and stay failed. No recovery is
// asked for, the status says why; once 3 come back, only the 2 still failed
// are recovered.
func TestZoneOutageIsHeldThenTheRestRecovered(t *testing.T) {
	h := newHarness(t, tenNodes()...)
	for i := 1; i <= 5; i++ {
		h.engine.SetHealthy(fmt.Sprintf("web-%d", i), false)
	}
	var held, after Status
	h.at(250*time.Second, func() { held = h.status() })
	h.at(260*time.Second, func() {
		for i := 1; i <= 3; i++ {
			h.engine.SetHealthy(fmt.Sprintf("web-%d", i), true)
		}
	})
	h.at(330*time.Second, func() { after = h.status() })
	h.run(Input{Registration: urlRegistration()}, 340*time.Second)

	if held.Hold == nil || held.Hold.Reason != triage.ReasonMaxUnhealthy ||
		!strings.HasPrefix(held.Hold.Detail, "held: 5 of 10 unhealthy, above max_unhealthy 40%") {
		t.Errorf("status while 5 of 10 failed: got hold %+v, want max_unhealthy", held.Hold)
	}
	if d := decisionOf(held, "n1"); d == nil || d.Action != triage.Hold || d.Reason != triage.ReasonMaxUnhealthy {
		t.Errorf("n1 while held: got %+v, want held for max_unhealthy", d)
	}
	if got := held.Counters.RecoveriesRequested; got != 0 {
		t.Errorf("recoveries over 5 held rounds: got %d, want 0", got)
	}
	if after.Hold != nil {
		t.Errorf("after 3 came back: got hold %+v, want none", after.Hold)
	}
	if held.State != StateHeld || after.State == StateHeld {
		t.Errorf("state: got %s while held, %s after; want held, then not", held.State, after.State)
	}
	var recovered []string
	for _, a := range h.engine.Actions() {
		recovered = append(recovered, a.NodeID)
	}
	if strings.Join(recovered, ",") != "n4,n5" && strings.Join(recovered, ",") != "n5,n4" {
		t.Errorf("recovered: got %v, want n4 and n5", recovered)
	}
	if got := h.metrics.counter(MetricDecisions, TagAction, "cluster_hold", TagReason, triage.ReasonMaxUnhealthy); got != 1 {
		t.Errorf("cluster hold metric: got %d, want 1", got)
	}
	var holdEvents int
	for _, e := range h.engine.Events() {
		if e.NodeID == "" && strings.HasPrefix(string(e.To), "cluster hold") {
			holdEvents++
		}
	}
	if holdEvents != 2 { // held, then lifted
		t.Errorf("cluster hold timeline entries: got %d, want 2 (held, lifted)", holdEvents)
	}
}

// A node that fails again within probation climbs the ladder; after the
// last step it needs a human, and an operator's clear lets it start over.
func TestEscalationLadderAndClear(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	reg := urlRegistration()
	reg.Safety.Escalation = []health.EscalationStep{{Operation: health.OpReboot, Probation: 600}, {Operation: health.OpRecreate, Probation: 600}}
	reg.NodeUpdateTimeout, reg.WaitTimeout = 0, 300 // no grace after a recovery
	h.engine.SetHealthy("web-2", false)
	// The fake engine mends the node at each recovery; break it again a
	// round later, within the probation.
	for _, at := range []time.Duration{70, 190, 310} {
		h.at(at*time.Second, func() { h.engine.SetHealthy("web-2", false) })
	}
	var needs Status
	var cleared *updateOutcome
	h.at(400*time.Second, func() { needs = h.status() })
	h.at(410*time.Second, func() {
		cleared = h.update(UpdateClear, NodeRequest{NodeID: "n2", Requester: "alice", Reason: "disk replaced"})
	})
	h.run(Input{Registration: reg}, 430*time.Second)

	var ops []string
	for _, a := range h.engine.Actions() {
		ops = append(ops, string(a.Params.Operation))
	}
	if got, want := strings.Join(ops, ","), "REBOOT,RECREATE,REBOOT"; got != want {
		t.Errorf("operations: got %s, want %s (REBOOT, RECREATE within probation, then needs a human, cleared, REBOOT)", got, want)
	}
	if needs.State != StateWaiting {
		t.Errorf("state while n2 needs a human: got %s, want %s", needs.State, StateWaiting)
	}
	if d := decisionOf(needs, "n2"); d == nil || d.Reason != triage.ReasonNeedsHuman {
		t.Errorf("after the last step failed again: got %+v, want needs a human", d)
	}
	if cleared.err != nil || cleared.res.Decision.Reason != triage.ReasonCleared || !strings.Contains(cleared.res.Decision.Detail, "alice") {
		t.Errorf("clear: got %+v", cleared)
	}
}

// One requester's enable never lifts another's pause (Senlin F-17, F-18), and
// a pause without an end of its own expires after pause_max.
func TestPausesByRequester(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	reg := urlRegistration()
	reg.Safety.PauseMax = 600
	var both, oneLeft, resumed Status
	h.at(10*time.Second, func() {
		h.env.SignalWorkflow(SignalDisable, DisableSignal{Requester: "engine", Reason: "CLUSTER_SCALE_IN"})
	})
	h.at(11*time.Second, func() {
		h.env.SignalWorkflow(SignalDisable, DisableSignal{Requester: "alice", Reason: "upgrade", Indefinite: true})
	})
	h.at(20*time.Second, func() { both = h.status() })
	h.at(30*time.Second, func() { h.env.SignalWorkflow(SignalEnable, EnableSignal{Requester: "engine"}) })
	h.at(40*time.Second, func() { oneLeft = h.status() })
	h.at(700*time.Second, func() { h.env.SignalWorkflow(SignalEnable, EnableSignal{Requester: "alice"}) })
	h.at(710*time.Second, func() { resumed = h.status() })
	h.run(Input{Registration: reg}, 720*time.Second)

	if both.Enabled || len(both.Pauses) != 2 || !strings.Contains(both.EnabledNote, "disabled by alice: upgrade (until lifted)") {
		t.Errorf("two pauses: got enabled %v pauses %v note %q", both.Enabled, both.Pauses, both.EnabledNote)
	}
	if oneLeft.Enabled || len(oneLeft.Pauses) != 1 || oneLeft.Pauses["alice"] == nil {
		t.Errorf("after the engine's enable: got enabled %v pauses %v, want alice's pause left", oneLeft.Enabled, oneLeft.Pauses)
	}
	if !resumed.Enabled || len(resumed.Pauses) != 0 || resumed.Counters.Rounds != 2 {
		t.Errorf("after alice's enable: got enabled %v pauses %v rounds %d, want enabled and a round at once", resumed.Enabled, resumed.Pauses, resumed.Counters.Rounds)
	}

	// A pause without an end of its own lasts pause_max.
	h2 := newHarness(t, threeNodes()...)
	var after Status
	h2.at(10*time.Second, func() { h2.env.SignalWorkflow(SignalDisable, DisableSignal{Requester: "bob"}) })
	h2.at(620*time.Second, func() { after = h2.status() })
	h2.run(Input{Registration: reg}, 630*time.Second)
	if !after.Enabled || after.Counters.Rounds != 2 {
		t.Errorf("after pause_max: got enabled %v rounds %d, want the pause expired at 610 s and a round", after.Enabled, after.Counters.Rounds)
	}
}

// Operations that need approval wait for approve or deny; without an answer
// the default applies when the approval times out.
func TestApprovalGate(t *testing.T) {
	reg := urlRegistration()
	reg.Safety.Approval = health.Approval{Operations: []health.Operation{health.OpRecreate}, Timeout: 300}

	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	var waiting Status
	var approved, refused *updateOutcome
	h.at(30*time.Second, func() { waiting = h.status() })
	h.at(40*time.Second, func() { refused = h.update(UpdateApprove, NodeRequest{NodeID: "n1"}) })
	h.at(50*time.Second, func() { approved = h.update(UpdateApprove, NodeRequest{NodeID: "n2", Requester: "carol"}) })
	h.run(Input{Registration: reg}, 70*time.Second)
	if d := decisionOf(waiting, "n2"); d == nil || d.Action != triage.AwaitApproval || h.engine.ActionCount() != 1 {
		t.Errorf("waiting: got %+v and %d actions, want awaiting approval, then one action", d, h.engine.ActionCount())
	}
	if refused.err == nil || !strings.Contains(refused.err.Error(), "node_id: no recovery of node n1 is waiting for approval") {
		t.Errorf("approve of a node not waiting: got %v, want refused naming node_id", refused.err)
	}
	if approved.err != nil || approved.res.Decision.Action != triage.Recover || approved.res.Decision.Reason != triage.ReasonApproved {
		t.Errorf("approve: got %+v, want a recovery", approved)
	}

	h = newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	var timedOut Status
	h.at(400*time.Second, func() { timedOut = h.status() })
	h.run(Input{Registration: reg}, 410*time.Second)
	if d := decisionOf(timedOut, "n2"); h.engine.ActionCount() != 0 || d == nil || d.Reason != triage.ReasonNeedsHuman ||
		!strings.Contains(d.Detail, "denied by default after the approval timed out") {
		t.Errorf("after the approval timed out: got %+v and %d actions, want denied by default, none", d, h.engine.ActionCount())
	}
}

// Dry-run decides and records, and asks for nothing.
func TestDryRun(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	reg := urlRegistration()
	reg.Safety.DryRun = true
	h.engine.SetHealthy("web-2", false)
	var s Status
	h.at(150*time.Second, func() { s = h.status() })
	h.run(Input{Registration: reg}, 160*time.Second)
	if d := decisionOf(s, "n2"); h.engine.ActionCount() != 0 || d == nil || d.Action != triage.Recover || !d.DryRun {
		t.Errorf("dry run: got %+v and %d actions, want a recovery decided, none requested", d, h.engine.ActionCount())
	}
}

// A node in maintenance is held back until it ends; the update names a bad
// field.
func TestMaintenance(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	var refused *updateOutcome
	var during Status
	actionsDuring := -1
	h.at(1*time.Second, func() { refused = h.update(UpdateMaintain, MaintainRequest{NodeID: "n2", ForSeconds: -1}) })
	h.at(2*time.Second, func() {
		h.update(UpdateMaintain, MaintainRequest{NodeID: "n2", Requester: "bob", Reason: "kernel", ForSeconds: 100})
	})
	h.at(90*time.Second, func() { during, actionsDuring = h.status(), h.engine.ActionCount() })
	h.run(Input{Registration: urlRegistration()}, 130*time.Second)
	if refused.err == nil || !strings.Contains(refused.err.Error(), "for_seconds: must be from 0") {
		t.Errorf("negative for_seconds: got %v, want refused naming for_seconds", refused.err)
	}
	if d := decisionOf(during, "n2"); actionsDuring != 0 || d == nil || d.Reason != triage.ReasonMaintenance || !strings.Contains(d.Detail, "by bob: kernel") {
		t.Errorf("in maintenance: got %+v and %d actions, want held by bob's maintenance", d, actionsDuring)
	}
	if got := h.engine.ActionCount(); got != 1 {
		t.Errorf("after the maintenance ended: got %d actions, want 1 (the round at 120 s)", got)
	}
}

// A node that failed below the threshold and passed again, or that was
// recovered, leaves nothing behind: no node entry, no decision.
func TestPassedFailuresLeaveNoMemory(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	reg := urlRegistration()
	reg.Safety.FailureThreshold = 3
	h.engine.SetHealthy("web-2", false)
	h.at(70*time.Second, func() { h.engine.SetHealthy("web-2", true) })
	var during, after Status
	h.at(65*time.Second, func() { during = h.status() })
	h.at(190*time.Second, func() { after = h.status() })
	h.run(Input{Registration: reg}, 200*time.Second)
	if d := decisionOf(during, "n2"); d == nil || d.Reason != triage.ReasonBelowThreshold {
		t.Errorf("while failing below the threshold: got %+v, want held below the failure threshold", d)
	}
	if len(after.Nodes) != 0 || len(after.Decisions) != 0 || h.engine.ActionCount() != 0 {
		t.Errorf("after it passed: got %d nodes, %d decisions, %d actions; want none", len(after.Nodes), len(after.Decisions), h.engine.ActionCount())
	}
}

// A burst of lifecycle events is an outage too: 5 of 10 servers stopped
// within a second, each reported twice (Nova's legacy and versioned
// formats), get no recovery and an honest hold; once Nova says 3 are active
// again, exactly the other 2 are recovered. With event_settle 0 each request
// is judged alone, and the recovered nodes still count until they are seen
// back, so the fifth is held all the same.
func TestEventBurstIsHeld(t *testing.T) {
	zero := 0
	for _, tc := range []struct {
		name    string
		settle  *int
		failed  int
		actions []string // before any node is back
		after   []string // after n1..n3 are back
	}{
		{name: "5 of 10 in a settle window", failed: 5, after: []string{"n4", "n5"}},
		{name: "4 of 10 in a settle window", failed: 4, actions: []string{"n1", "n2", "n3", "n4"}, after: []string{"n1", "n2", "n3", "n4"}},
		{name: "5 of 10 judged each alone", settle: &zero, failed: 5, actions: []string{"n1", "n2", "n3", "n4"},
			after: []string{"n1", "n2", "n3", "n4", "n5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tenNodes()...)
			base := 10 * time.Second
			for i := 1; i <= tc.failed; i++ {
				for format, source := range []string{"compute.host1", "nova-compute:host1"} {
					at := base + time.Duration(i-1)*200*time.Millisecond + time.Duration(format)*50*time.Millisecond
					s := RecoverSignal{NodeID: fmt.Sprintf("n%d", i), Event: "POWER_OFF", State: "stopped", Source: health.SourceNova,
						Publisher: source, Project: "p1", MessageID: fmt.Sprintf("m%d-%d", i, format),
						Timestamp: h.start.Add(at - time.Duration(format)*50*time.Millisecond - 10*time.Millisecond).Format("2006-01-02 15:04:05.999999")}
					h.at(at, func() { h.env.SignalWorkflow(SignalRecover, s) })
				}
			}
			var held, after Status
			var before []string
			h.at(30*time.Second, func() {
				held = h.status()
				before = actionNodes(h)
			})
			for i := 1; i <= 3; i++ {
				h.at(60*time.Second+time.Duration(i)*100*time.Millisecond, func() {
					h.env.SignalWorkflow(SignalNodeBack, RecoverSignal{NodeID: fmt.Sprintf("n%d", i), Event: "POWER_ON", State: "active",
						Source: health.SourceNova, Project: "p1", MessageID: fmt.Sprintf("b%d", i)})
				})
			}
			h.at(90*time.Second, func() { after = h.status() })
			reg := eventsRegistration()
			reg.Safety.EventSettle = tc.settle
			h.run(Input{Registration: reg}, 100*time.Second)

			if !slices.Equal(before, tc.actions) {
				t.Errorf("actions before any node is back: got %v, want %v", before, tc.actions)
			}
			if got := actionNodes(h); !slices.Equal(got, tc.after) {
				t.Errorf("actions in all: got %v, want %v", got, tc.after)
			}
			if tc.failed == 5 {
				if held.Hold == nil || held.Hold.Reason != triage.ReasonMaxUnhealthy {
					t.Fatalf("status after the burst: got hold %+v, want max_unhealthy", held.Hold)
				}
				// The hold names the nodes that were let through before it.
				var through []string
				for _, n := range tc.actions {
					through = append(through, n)
				}
				if !slices.Equal(held.Hold.Recovering, through) {
					t.Errorf("hold: got recovering %v, want %v", held.Hold.Recovering, through)
				}
				for _, r := range held.InFlight {
					if r.Requested.After(held.Hold.At) {
						t.Errorf("recovery of %s requested at %s, after the hold began at %s", r.NodeID, r.Requested, held.Hold.At)
					}
				}
			}
			if after.Hold != nil {
				t.Errorf("status after 3 nodes are back: got hold %+v, want none", after.Hold)
			}
			if held.Burst != nil {
				t.Errorf("status 20 s after the burst: got an open settle window %+v", held.Burst)
			}
		})
	}
}

// actionNodes lists the nodes of the recovery actions asked of the engine,
// in order.
func actionNodes(h *harness) []string {
	var ids []string
	for _, a := range h.engine.Actions() {
		ids = append(ids, a.NodeID)
	}
	slices.Sort(ids) // recoveries asked for at one time are asked for concurrently
	return ids
}

// Recoveries that succeed but after which the node fails again before it is
// seen working count as failed ones: the third needs a human, instead of a
// recovery every round for ever.
func TestRecoveriesThatDoNotHelpNeedAHuman(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	reg := urlRegistration()
	reg.NodeUpdateTimeout, reg.WaitTimeout = 0, 300 // no grace after a recovery
	h.engine.SetHealthy("web-2", false)
	// The fake engine mends the node at each recovery; it is broken again
	// before the next round sees it.
	for at := 30 * time.Second; at < 600*time.Second; at += 60 * time.Second {
		h.at(at, func() { h.engine.SetHealthy("web-2", false) })
	}
	var needs Status
	h.at(590*time.Second, func() { needs = h.status() })
	h.run(Input{Registration: reg}, 600*time.Second)

	if got := len(h.engine.Actions()); got != 3 {
		t.Errorf("recoveries of a node that fails again after each: got %d, want 3", got)
	}
	d := decisionOf(needs, "n2")
	if d == nil || d.Reason != triage.ReasonNeedsHuman || !strings.Contains(d.Detail, "did not bring it back") {
		t.Errorf("n2 after them: got %+v, want needs a human, the recoveries not having brought it back", d)
	}
}
