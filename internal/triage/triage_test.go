package triage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func policy(s health.Safety) Policy {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate}, Safety: s,
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}}
	return PolicyFor(reg, GenCore)
}

// verdicts builds a round over n nodes n1..nN, the given ones unhealthy.
func verdicts(n int, unhealthy ...int) []Verdict {
	bad := map[int]bool{}
	for _, i := range unhealthy {
		bad[i] = true
	}
	var vs []Verdict
	for i := 1; i <= n; i++ {
		v := Verdict{NodeID: fmt.Sprintf("n%d", i), Verdict: health.Healthy, Reason: "200 OK"}
		if bad[i] {
			v.Verdict, v.Reason = health.Unhealthy, "503"
		}
		vs = append(vs, v)
	}
	return vs
}

// actions sums a result up as "node:action/reason" for the nodes that got a
// decision, in order.
func actions(r Result) string {
	var s []string
	for _, d := range r.Decisions {
		s = append(s, d.NodeID+":"+string(d.Action)+"/"+d.Reason)
	}
	return strings.Join(s, " ")
}

func round(p Policy, c *Cluster, f Facts, at time.Time, vs []Verdict) Result {
	if f.Nodes == 0 {
		f.Nodes = len(vs)
	}
	return Decide(p, c, f, Round{Start: at, Verdicts: vs}, at)
}

func TestMaxUnhealthy(t *testing.T) {
	cases := []struct {
		name      string
		safety    health.Safety
		legacy    bool
		nodes     int
		unhealthy []int
		want      string
		hold      string
	}{
		{"defaults: 1 of 2 is recovered", health.Safety{}, false, 2, []int{2}, "n2:recover/unhealthy", ""},
		{"defaults: 1 of 3 is recovered", health.Safety{}, false, 3, []int{1}, "n1:recover/unhealthy", ""},
		{"defaults: 2 of 4 are held", health.Safety{}, false, 4, []int{1, 2}, "n1:hold/max_unhealthy n2:hold/max_unhealthy",
			"held: 2 of 4 unhealthy, above max_unhealthy 40% (at most 1)"},
		{"defaults: 4 of 10 are recovered", health.Safety{}, false, 10, []int{1, 2, 3, 4},
			"n1:recover/unhealthy n2:recover/unhealthy n3:recover/unhealthy n4:recover/unhealthy", ""},
		{"defaults: 5 of 10 are held", health.Safety{}, false, 10, []int{1, 2, 3, 4, 5},
			"n1:hold/max_unhealthy n2:hold/max_unhealthy n3:hold/max_unhealthy n4:hold/max_unhealthy n5:hold/max_unhealthy",
			"held: 5 of 10 unhealthy, above max_unhealthy 40% (at most 4)"},
		{"a count", health.Safety{MaxUnhealthy: "2"}, false, 10, []int{1, 2, 3}, "n1:hold/max_unhealthy n2:hold/max_unhealthy n3:hold/max_unhealthy",
			"held: 3 of 10 unhealthy, above max_unhealthy 2 (at most 2)"},
		{"100% turns it off", health.Safety{MaxUnhealthy: "100%"}, false, 4, []int{1, 2, 3, 4},
			"n1:recover/unhealthy n2:recover/unhealthy n3:recover/unhealthy n4:recover/unhealthy", ""},
		{"legacy runs recover every failed node", health.Safety{}, true, 4, []int{1, 2, 3},
			"n1:recover/unhealthy n2:recover/unhealthy n3:recover/unhealthy", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(tc.safety)
			p.Legacy = tc.legacy
			r := round(p, &Cluster{}, Facts{}, t0, verdicts(tc.nodes, tc.unhealthy...))
			if got := actions(r); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			switch {
			case tc.hold == "" && r.Hold != nil:
				t.Errorf("got cluster hold %q, want none", r.Hold.Detail)
			case tc.hold != "" && (r.Hold == nil || !strings.HasPrefix(r.Hold.Detail, tc.hold)):
				t.Errorf("got cluster hold %+v, want %q", r.Hold, tc.hold)
			}
		})
	}
}

// While the cluster is held, the recovery resumes once it is back under the
// limit: only the nodes still failed are recovered.
func TestMaxUnhealthyResumesUnderTheLimit(t *testing.T) {
	p, c := policy(health.Safety{}), &Cluster{}
	for i := range 3 {
		if got := actions(round(p, c, Facts{}, t0.Add(time.Duration(i)*time.Minute), verdicts(10, 1, 2, 3, 4, 5))); strings.Contains(got, "recover") {
			t.Fatalf("round %d with 5 of 10 failed: got %s, want no recovery", i, got)
		}
	}
	got := actions(round(p, c, Facts{}, t0.Add(3*time.Minute), verdicts(10, 4, 5)))
	if want := "n1:change/healthy_again n2:change/healthy_again n3:change/healthy_again n4:recover/unhealthy n5:recover/unhealthy"; got != want {
		t.Errorf("after 3 came back: got %s, want %s", got, want)
	}
}

func TestThresholds(t *testing.T) {
	type step struct {
		unhealthy []int
		inFlight  bool // n1's recovery is under way
		want      string
	}
	cases := []struct {
		name  string
		gen   Generation
		safe  health.Safety
		steps []step
	}{
		{"a healthy round while recovering counts toward the success threshold", GenCore,
			health.Safety{FailureThreshold: 3, SuccessThreshold: 2}, []step{
				{[]int{1}, false, "n1:hold/below_failure_threshold"},
				{[]int{1}, false, "n1:hold/below_failure_threshold"},
				{[]int{1}, false, "n1:recover/unhealthy"},
				{nil, true, "n1:hold/already_recovering"}, // one healthy round of the two it needs
				{nil, false, "n1:change/healthy_again"},
				{nil, false, ""},
			}},
		{"a node passing its checks again is held, not recovered, until the success threshold", GenSuccessHold,
			health.Safety{FailureThreshold: 1, SuccessThreshold: 3}, []step{
				{[]int{1}, false, "n1:recover/unhealthy"},
				{nil, false, "n1:hold/below_success_threshold"},
				{nil, false, "n1:hold/below_success_threshold"},
				{nil, false, "n1:change/healthy_again"},
				{nil, false, ""},
			}},
		{"runs older than GenSuccessHold recovered such a node again (kept so that they replay)", GenFleetStates,
			health.Safety{FailureThreshold: 1, SuccessThreshold: 3}, []step{
				{[]int{1}, false, "n1:recover/unhealthy"},
				{nil, false, "n1:recover/unhealthy"},
				{nil, false, "n1:recover/unhealthy"},
				{nil, false, "n1:change/healthy_again"},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{}
			p := PolicyFor(health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate}, Safety: tc.safe,
				DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}}, tc.gen)
			for i, s := range tc.steps {
				f := Facts{}
				if s.inFlight {
					f.InFlight = map[string]string{"n1": "a1"}
				}
				at := t0.Add(time.Duration(i) * time.Minute)
				got := actions(round(p, c, f, at, verdicts(3, s.unhealthy...)))
				if got != s.want {
					t.Errorf("round %d: got %s, want %s", i, got, s.want)
				}
				if strings.Contains(got, "recover") {
					Decide(p, c, f, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, at.Add(time.Second))
				}
			}
			if len(c.Nodes) != 0 {
				t.Errorf("memory after the node is healthy again: got %+v, want none", c.Nodes)
			}
		})
	}
}

func TestFailingSinceIsTheFirstFailedRound(t *testing.T) {
	p, c := policy(health.Safety{FailureThreshold: 2}), &Cluster{}
	round(p, c, Facts{}, t0, verdicts(3, 2))
	r := round(p, c, Facts{}, t0.Add(time.Minute), verdicts(3, 2))
	if len(r.Decisions) != 1 || r.Decisions[0].Action != Recover || !r.Decisions[0].FailingSince.Equal(t0) {
		t.Errorf("got %+v, want a recovery of n2 failing since %s", r.Decisions, t0)
	}
}

func TestInFlightCapAndBudgetWaitTheirTurn(t *testing.T) {
	p := policy(health.Safety{MaxUnhealthy: "100%", MaxInFlight: 2})
	c := &Cluster{}
	// n1 started failing first, then n3, then n2: the oldest gets the one free slot.
	round(p, c, Facts{}, t0, verdicts(5, 1))
	c.Nodes["n1"].FailingSince = t0.Add(-time.Hour)
	c.Nodes["n3"] = &Memory{Failures: 1, Unhealthy: true, FailingSince: t0.Add(-30 * time.Minute)}
	r := round(p, c, Facts{InFlight: map[string]string{"n4": "a4"}}, t0.Add(time.Minute), verdicts(5, 1, 2, 3))
	if got, want := actions(r), "n1:recover/unhealthy n2:hold/max_in_flight n3:hold/max_in_flight"; got != want {
		t.Errorf("cap: got %s, want %s", got, want)
	}

	p = policy(health.Safety{MaxUnhealthy: "100%", Budget: health.Budget{Recoveries: 2, Window: 3600}})
	c = &Cluster{}
	r = round(p, c, Facts{}, t0, verdicts(4, 1, 2, 3))
	if got, want := actions(r), "n1:recover/unhealthy n2:recover/unhealthy n3:hold/budget"; got != want {
		t.Errorf("budget: got %s, want %s", got, want)
	}
	if !strings.Contains(r.Decisions[2].Detail, "the next is due at 2026-01-01T12:30:00Z") {
		t.Errorf("budget detail: got %q, want the next token's time", r.Decisions[2].Detail)
	}
	inFlight := map[string]string{"n1": "a1", "n2": "a2"}
	if got, want := actions(round(p, c, Facts{InFlight: inFlight}, t0.Add(20*time.Minute), verdicts(4, 1, 2, 3))),
		"n1:hold/already_recovering n2:hold/already_recovering n3:hold/budget"; got != want {
		t.Errorf("budget after 20 min: got %s, want %s", got, want)
	}
	if got, want := actions(round(p, c, Facts{InFlight: inFlight}, t0.Add(30*time.Minute), verdicts(4, 1, 2, 3))),
		"n1:hold/already_recovering n2:hold/already_recovering n3:recover/unhealthy"; got != want {
		t.Errorf("budget after 30 min: got %s, want %s", got, want)
	}
}

func TestEscalationLadder(t *testing.T) {
	ladder := []health.EscalationStep{{Operation: health.OpReboot, Probation: 600}, {Operation: health.OpRebuild, Probation: 600},
		{Operation: health.OpRecreate, Probation: 600}}
	p, c := policy(health.Safety{Escalation: ladder}), &Cluster{}
	at := t0
	fail := func() Decision {
		t.Helper()
		r := round(p, c, Facts{}, at, verdicts(3, 1))
		if len(r.Decisions) != 1 {
			t.Fatalf("got %s, want one decision", actions(r))
		}
		return r.Decisions[0]
	}
	mend := func(d Decision) {
		Decide(p, c, Facts{}, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded, Step: d.Step}, at)
		at = at.Add(time.Minute)
		round(p, c, Facts{}, at, verdicts(3))
		at = at.Add(time.Minute)
	}
	for i, want := range []health.Operation{health.OpReboot, health.OpRebuild, health.OpRecreate} {
		d := fail()
		if d.Action != Recover || d.Operation != want || d.Step != i {
			t.Fatalf("incident %d: got %+v, want step %d %s", i+1, d, i, want)
		}
		mend(d)
	}
	// Failing again within the last step's probation needs a human.
	if d := fail(); d.Action != Hold || d.Reason != ReasonNeedsHuman || !strings.Contains(d.Detail, "starter clear --node n1") {
		t.Fatalf("after the last step: got %+v, want needs a human", d)
	}
	if d := fail(); d.Reason != ReasonNeedsHuman {
		t.Errorf("next round: got %+v, want still needs a human", d)
	}
	r := Decide(p, c, Facts{}, Clear{NodeID: "n1", By: "alice", Reason: "disk replaced"}, at)
	if got := actions(r); got != "n1:change/cleared" || !strings.Contains(r.Decisions[0].Detail, "cleared by alice: disk replaced") {
		t.Errorf("clear: got %s %+v", got, r.Decisions)
	}
	if d := fail(); d.Action != Recover || d.Operation != health.OpReboot {
		t.Errorf("after clear: got %+v, want REBOOT again", d)
	}
	// A failure after the probation starts over at the first step.
	mend(Decision{Step: 0})
	at = at.Add(20 * time.Minute)
	round(p, c, Facts{}, at, verdicts(3))
	if d := fail(); d.Operation != health.OpReboot || d.Step != 0 {
		t.Errorf("after probation: got %+v, want REBOOT at step 0", d)
	}
}

func TestFailedRecoveriesNeedAHuman(t *testing.T) {
	p, c := policy(health.Safety{}), &Cluster{}
	for i := 1; i <= 3; i++ {
		r := round(p, c, Facts{}, t0.Add(time.Duration(i)*time.Minute), verdicts(3, 1))
		if r.Decisions[0].Action != Recover {
			t.Fatalf("attempt %d: got %s, want a recovery", i, actions(r))
		}
		r = Decide(p, c, Facts{}, Finished{NodeID: "n1", Outcome: health.OutcomeFailed}, t0.Add(time.Duration(i)*time.Minute+time.Second))
		if want := i == 3; (len(r.Decisions) == 1 && r.Decisions[0].Reason == ReasonNeedsHuman) != want {
			t.Errorf("after failure %d: got %s, want needs a human %v", i, actions(r), want)
		}
	}
	if got := actions(round(p, c, Facts{}, t0.Add(time.Hour), verdicts(3, 1))); got != "n1:hold/needs_human" {
		t.Errorf("after 3 failures: got %s", got)
	}
	// Legacy runs retried forever.
	p.Legacy, c = true, &Cluster{}
	for i := range 5 {
		Decide(p, c, Facts{}, Finished{NodeID: "n1", Outcome: health.OutcomeFailed}, t0.Add(time.Duration(i)*time.Second))
	}
	if got := actions(round(p, c, Facts{}, t0.Add(time.Hour), verdicts(3, 1))); got != "n1:recover/unhealthy" {
		t.Errorf("legacy after 5 failures: got %s", got)
	}
}

func TestFlapQuarantine(t *testing.T) {
	p := policy(health.Safety{Flap: health.Flap{Changes: 2, Window: 600, Stable: 300}})
	c := &Cluster{}
	in := Facts{InFlight: map[string]string{"n1": "a1"}}
	seq := []struct {
		bad  bool
		want string
	}{
		{true, "n1:hold/already_recovering"},
		{false, "n1:change/healthy_again"},
		{true, "n1:change/quarantined n1:hold/quarantined"},
		{false, "n1:change/healthy_again"},
		{true, "n1:hold/quarantined"},
	}
	at := t0
	for i, s := range seq {
		var vs []Verdict
		if s.bad {
			vs = verdicts(2, 1)
		} else {
			vs = verdicts(2)
		}
		f := Facts{}
		if i == 0 {
			f = in
		}
		if got := actions(round(p, c, f, at, vs)); got != s.want {
			t.Errorf("round %d: got %s, want %s", i, got, s.want)
		}
		at = at.Add(time.Minute)
	}
	// Stable for the stable time: released, then recovered.
	at = at.Add(5 * time.Minute)
	if got, want := actions(round(p, c, Facts{}, at, verdicts(2, 1))), "n1:change/released n1:recover/unhealthy"; got != want {
		t.Errorf("after 5 stable minutes: got %s, want %s", got, want)
	}
}

func TestMaintenanceDryRunAndPause(t *testing.T) {
	p, c := policy(health.Safety{}), &Cluster{}
	Decide(p, c, Facts{}, Maintain{NodeID: "n1", Pause: &Pause{By: "bob", Reason: "kernel upgrade", Since: t0, Until: t0.Add(time.Hour)}}, t0)
	r := round(p, c, Facts{}, t0.Add(time.Minute), verdicts(3, 1))
	if got := actions(r); got != "n1:hold/maintenance" || !strings.Contains(r.Decisions[0].Detail, "by bob: kernel upgrade, until 2026-01-01T13:00:00Z") {
		t.Errorf("in maintenance: got %s %q", got, r.Decisions[0].Detail)
	}
	if got := actions(round(p, c, Facts{}, t0.Add(2*time.Hour), verdicts(3, 1))); got != "n1:recover/unhealthy" {
		t.Errorf("after maintenance expired: got %s", got)
	}
	if c.Nodes["n1"].Maintenance != nil {
		t.Error("expired maintenance is still remembered")
	}

	dry := policy(health.Safety{DryRun: true})
	r = round(dry, &Cluster{}, Facts{}, t0, verdicts(3, 2))
	if len(r.Decisions) != 1 || r.Decisions[0].Action != Recover || !r.Decisions[0].DryRun || !strings.HasPrefix(r.Decisions[0].Detail, "dry run") {
		t.Errorf("dry run: got %+v, want a recovery marked dry run", r.Decisions)
	}

	r = round(p, &Cluster{}, Facts{Paused: "disabled by op: upgrade"}, t0, verdicts(3, 2))
	if got := actions(r); got != "n2:hold/disabled" || r.Hold == nil || r.Hold.Detail != "disabled by op: upgrade" {
		t.Errorf("paused: got %s %+v", got, r.Hold)
	}
}

func TestApproval(t *testing.T) {
	p := policy(health.Safety{Approval: health.Approval{Operations: []health.Operation{health.OpRecreate}, Timeout: 600}})
	c := &Cluster{}
	r := round(p, c, Facts{}, t0, verdicts(3, 1))
	if got := actions(r); got != "n1:await_approval/awaiting_approval" || !strings.Contains(r.Decisions[0].Detail, "starter approve|deny --node n1") {
		t.Fatalf("got %s %q", got, r.Decisions[0].Detail)
	}
	if got := actions(round(p, c, Facts{}, t0.Add(time.Minute), verdicts(3, 1))); got != "n1:hold/awaiting_approval" {
		t.Errorf("next round: got %s", got)
	}
	r = Decide(p, c, Facts{}, Answer{NodeID: "n1", Approve: true, By: "carol"}, t0.Add(2*time.Minute))
	if got := actions(r); got != "n1:recover/approved" || r.Decisions[0].Operation != health.OpRecreate {
		t.Errorf("approve: got %s %+v", got, r.Decisions)
	}
	if got := actions(Decide(p, c, Facts{}, Answer{NodeID: "n1", Approve: true}, t0.Add(3*time.Minute))); got != "n1:ignore/awaiting_approval" {
		t.Errorf("a second answer: got %s, want ignored", got)
	}

	c = &Cluster{}
	round(p, c, Facts{}, t0, verdicts(3, 1))
	r = Decide(p, c, Facts{}, Answer{NodeID: "n1", Timeout: true}, t0.Add(10*time.Minute))
	if got := actions(r); got != "n1:change/denied" || !strings.Contains(r.Decisions[0].Detail, "denied by default after the approval timed out") {
		t.Errorf("timeout: got %s %+v", got, r.Decisions)
	}
	if got := actions(round(p, c, Facts{}, t0.Add(11*time.Minute), verdicts(3, 1))); got != "n1:hold/needs_human" {
		t.Errorf("after a denial: got %s", got)
	}

	// The policy's default decides a timeout, whatever Approve says.
	p.Safety.Approval.Default = health.Approve
	c = &Cluster{}
	round(p, c, Facts{}, t0, verdicts(3, 1))
	r = Decide(p, c, Facts{}, Answer{NodeID: "n1", Timeout: true}, t0.Add(10*time.Minute))
	if got := actions(r); got != "n1:recover/approved" || !strings.Contains(r.Decisions[0].Detail, "approved by default after the approval timed out") {
		t.Errorf("timeout with approve by default: got %s %+v", got, r.Decisions)
	}
}

func TestRequestRules(t *testing.T) {
	events := func() Policy {
		reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate},
			DetectionModes: []health.DetectionMode{{Type: health.LifecycleEvents}}}
		return PolicyFor(reg, GenCore)
	}
	cases := []struct {
		name string
		p    Policy
		f    Facts
		req  Request
		want string
	}{
		{"recovered", events(), Facts{Nodes: 3}, Request{NodeID: "n1", Source: "nova", Notification: true}, "n1:recover/unhealthy"},
		{"no node", events(), Facts{}, Request{}, ":ignore/no_node_id"},
		{"duplicate", events(), Facts{}, Request{NodeID: "n1", Duplicate: true}, "n1:ignore/duplicate_message_id"},
		{"disabled", events(), Facts{Paused: "disabled by op"}, Request{NodeID: "n1"}, "n1:ignore/disabled"},
		{"other project", events(), Facts{Project: "p1"}, Request{NodeID: "n1", Project: "p2"}, "n1:ignore/other_project"},
		{"heat from another project", events(), Facts{Project: "p1"}, Request{NodeID: "n1", Source: "heat", Notification: true, Project: "p2"},
			"n1:ignore/other_project"},
		{"operator naming another project", events(), Facts{Project: "p1"}, Request{NodeID: "n1", Source: "operator", Project: "p2"},
			"n1:ignore/other_project"},
		{"in flight", events(), Facts{InFlight: map[string]string{"n1": ""}}, Request{NodeID: "n1"}, "n1:ignore/already_recovering"},
		{"notification to a polling cluster", policy(health.Safety{}), Facts{Nodes: 3}, Request{NodeID: "n1", Source: "heat", Notification: true},
			"n1:ignore/no_lifecycle_events"},
		{"operator to a polling cluster", policy(health.Safety{}), Facts{Nodes: 3}, Request{NodeID: "n1", Source: "operator"}, "n1:recover/unhealthy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := actions(Decide(tc.p, &Cluster{}, tc.f, tc.req, t0)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// A burst of events about half a cluster is held by max-unhealthy too.
func TestRequestsCountTowardMaxUnhealthy(t *testing.T) {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate},
		DetectionModes: []health.DetectionMode{{Type: health.LifecycleEvents}}}
	p, c := PolicyFor(reg, GenCore), &Cluster{}
	var got []string
	inFlight := map[string]string{}
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("n%d", i)
		r := Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, Request{NodeID: id, Source: "nova", Notification: true}, t0)
		got = append(got, actions(r))
		if r.Decisions[0].Action == Recover {
			inFlight[id] = ""
		}
	}
	want := "n1:recover/unhealthy n2:recover/unhealthy n3:recover/unhealthy n4:recover/unhealthy n5:hold/max_unhealthy n6:hold/max_unhealthy"
	if strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
	// Without polling, a successful recovery makes the node healthy again.
	Decide(p, c, Facts{}, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0)
	if m := c.Nodes["n1"]; m != nil && m.Unhealthy {
		t.Errorf("n1 after its recovery: got %+v, want healthy", m)
	}
}

func TestHealthyNodesNeedNoMemory(t *testing.T) {
	p, c := policy(health.Safety{}), &Cluster{}
	for i := range 5 {
		round(p, c, Facts{}, t0.Add(time.Duration(i)*time.Minute), verdicts(1000))
	}
	if len(c.Nodes) != 0 {
		t.Errorf("memory of a healthy cluster: got %d nodes, want none", len(c.Nodes))
	}
	vs := verdicts(1000)
	vs[3].Verdict, vs[4].Verdict = health.Unknown, health.Skipped
	round(p, c, Facts{}, t0, vs)
	if len(c.Nodes) != 0 {
		t.Errorf("memory after unknown and skipped verdicts: got %d nodes, want none", len(c.Nodes))
	}
}

// Without rounds, a held request is decided again when something changes.
func TestRetryLetsHeldRequestsGoOn(t *testing.T) {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate}, Safety: health.Safety{MaxInFlight: 1},
		DetectionModes: []health.DetectionMode{{Type: health.LifecycleEvents}}}
	p, c := PolicyFor(reg, GenCore), &Cluster{}
	inFlight := map[string]string{}
	for i, want := range []string{"n1:recover/unhealthy", "n2:hold/max_in_flight"} {
		id := fmt.Sprintf("n%d", i+1)
		r := Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, Request{NodeID: id, Source: "nova", Notification: true}, t0.Add(time.Duration(i)*time.Second))
		if got := actions(r); got != want {
			t.Fatalf("request %s: got %s, want %s", id, got, want)
		}
		if r.Decisions[0].Action == Recover {
			inFlight[id] = "a1"
		}
	}
	if got := actions(Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, Retry{}, t0.Add(time.Minute))); got != "n2:hold/max_in_flight" {
		t.Errorf("retry while n1 is in flight: got %s", got)
	}
	Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0.Add(2*time.Minute))
	delete(inFlight, "n1")
	if got := actions(Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, Retry{}, t0.Add(2*time.Minute))); got != "n2:recover/unhealthy" {
		t.Errorf("retry once n1 is done: got %s", got)
	}
}

// A failed recovery of a node without rounds is not retried at once: Retry
// decides again only for nodes that wait their turn.
func TestRetrySkipsFailedRecoveries(t *testing.T) {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate},
		DetectionModes: []health.DetectionMode{{Type: health.LifecycleEvents}}}
	p, c := PolicyFor(reg, GenCore), &Cluster{}
	r := Decide(p, c, Facts{Nodes: 10}, Request{NodeID: "n1", Source: "nova", Notification: true}, t0)
	if actions(r) != "n1:recover/unhealthy" {
		t.Fatalf("got %s", actions(r))
	}
	Decide(p, c, Facts{Nodes: 10}, Finished{NodeID: "n1", Outcome: health.OutcomeFailed}, t0.Add(time.Second))
	if got := actions(Decide(p, c, Facts{Nodes: 10}, Retry{}, t0.Add(time.Second))); got != "" {
		t.Errorf("retry after a failed recovery: got %s, want nothing", got)
	}
}

// A node coming back still counts toward max_unhealthy until it has passed
// success_threshold checks.
func TestComingBackCountsTowardMaxUnhealthy(t *testing.T) {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate},
		Safety:         health.Safety{SuccessThreshold: 3, MaxUnhealthy: "20%"},
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}}
	p, c := PolicyFor(reg, Current), &Cluster{}
	f := Facts{Nodes: 10}
	if got := actions(round(p, c, f, t0, verdicts(10, 1))); got != "n1:recover/unhealthy" {
		t.Fatalf("first failure: got %s", got)
	}
	Decide(p, c, f, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0.Add(time.Second))
	if got := actions(round(p, c, f, t0.Add(time.Minute), verdicts(10, 2))); got != "n1:hold/below_success_threshold n2:recover/unhealthy" {
		t.Errorf("n1 coming back, n2 failing (2 of 10): got %s", got)
	}
	Decide(p, c, f, Finished{NodeID: "n2", Outcome: health.OutcomeSucceeded}, t0.Add(61*time.Second))
	r := round(p, c, f, t0.Add(2*time.Minute), verdicts(10, 3))
	if got := actions(r); got != "n1:hold/below_success_threshold n2:hold/below_success_threshold n3:hold/max_unhealthy" || r.Hold == nil {
		t.Errorf("n1 and n2 coming back, n3 failing (3 of 10, above 20%%): got %s, hold %+v", got, r.Hold)
	}
}

// A round weighs every node the memory holds unhealthy, as requests do:
// also one a request made unhealthy that this round's verdicts leave out.
func TestRoundCountsTheUnhealthyOfTheMemory(t *testing.T) {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate},
		Safety: health.Safety{MaxUnhealthy: "1"}, DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}}
	for _, tc := range []struct {
		gen  Generation
		want string
	}{{Current, "n1:hold/max_unhealthy"}, {GenFleetStates, "n1:recover/unhealthy"}} {
		p := PolicyFor(reg, tc.gen)
		c := &Cluster{Nodes: map[string]*Memory{"n9": {Unhealthy: true, Failures: 1, FailingSince: t0}}}
		f := Facts{Nodes: 10, InFlight: map[string]string{"n9": "a9"}}
		if got := actions(round(p, c, f, t0.Add(time.Minute), verdicts(3, 1))); got != tc.want {
			t.Errorf("generation %d: got %s, want %s", tc.gen, got, tc.want)
		}
	}
}
