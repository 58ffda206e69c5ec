package workflows

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Issue "hostile tenants": fifty recover signals for node IDs the cluster
// does not have held a 10-node cluster ("50 of 50 unhealthy"), and a real
// failure afterwards got no recovery. Requests for non-members are now
// dropped before they are weighed, each alone and in a settle window.
func TestRequestsForNonMembers(t *testing.T) {
	zero := 0
	for _, tc := range []struct {
		name   string
		settle *int
	}{{"each alone", &zero}, {"in a settle window", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []health.Node
			for i := 1; i <= 10; i++ {
				nodes = append(nodes, health.Node{ID: fmt.Sprintf("n%d", i), Name: fmt.Sprintf("web-%d", i)})
			}
			h := newHarness(t, nodes...)
			for i := range 50 {
				h.at(10*time.Second+time.Duration(i)*10*time.Millisecond, func() {
					h.env.SignalWorkflow(SignalRecover, RecoverSignal{NodeID: fmt.Sprintf("ghost-%d", i), Source: "nova",
						Event: "compute.instance.power_off.end", MessageID: fmt.Sprintf("g%d", i)})
				})
			}
			h.at(11*time.Second, func() {
				h.env.SignalWorkflow(SignalRecover, RecoverSignal{NodeID: "n3", Source: "nova", Event: "compute.instance.power_off.end", MessageID: "real"})
			})
			var s Status
			h.at(30*time.Second, func() { s = h.status() })
			h.run(Input{Registration: func() health.Registration {
				r := eventsRegistration()
				r.Safety.EventSettle = tc.settle
				return r
			}()}, 40*time.Second)

			if got := h.engine.ActionCount(); got != 1 {
				t.Errorf("actions: got %d, want 1 (n3)", got)
			}
			for _, act := range h.engine.Actions() {
				if act.NodeID != "n3" {
					t.Errorf("action for %s, want only n3", act.NodeID)
				}
			}
			if got := s.Counters.SignalsIgnoredBy[triage.ReasonNotMember]; got != 50 {
				t.Errorf("ignored as not a member: got %d, want 50 (all by reason: %v)", got, s.Counters.SignalsIgnoredBy)
			}
			if s.Hold != nil {
				t.Errorf("hold: got %+v, want none", s.Hold)
			}
			if got := h.metrics.counter(MetricSignalsIgnored, TagReason, triage.ReasonNotMember); got != 50 {
				t.Errorf("%s{reason=%s}: got %d, want 50", MetricSignalsIgnored, triage.ReasonNotMember, got)
			}
		})
	}
}

// An approval that waits (up to 7 days) is carried across continue-as-new
// instead of keeping the run open: a run ends after its bound of rounds
// whatever waits (before, a 7-day approval kept one run for 120+ rounds,
// towards Temporal's limit of events), and the next run gets the approval.
func TestApprovalDoesNotBlockContinueAsNew(t *testing.T) {
	reg := urlRegistration()
	reg.Safety.Approval = health.Approval{Operations: []health.Operation{health.OpRecreate}, Timeout: health.MaxApprovalTimeout}
	h := newHarness(t, threeNodes()...)
	h.engine.SetHealthy("web-2", false)
	h.env.ExecuteWorkflow(WorkflowName, Input{Registration: reg, MaxRoundsPerRun: 5})
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("after 5 rounds with an approval waiting: got %v, want the run continued as new", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	m := next.State.Triage.Nodes["n2"]
	week := time.Duration(health.MaxApprovalTimeout) * time.Second
	if m == nil || m.Approval == nil || m.Approval.Until.Sub(m.Approval.Since) != week || m.Approval.Since.Sub(h.start) > 5*time.Minute {
		t.Errorf("the next run's state: got %+v, want n2's approval, asked for in the first minutes, carried for 7 days", m)
	}
	if n := h.env.Now().Sub(h.start); n > 10*time.Minute {
		t.Errorf("the run lasted %s, want about 5 rounds", n)
	}
}

// Raw signals and updates cannot grow the workflow's state: 300 disable
// signals from distinct requesters keep at most MaxPauses pauses (before,
// a 310 KB note and a cost quadratic in the signals), a signal that breaks
// the input rules is dropped, and maintenance is refused for a node the
// cluster does not have.
func TestRawSignalsAreBounded(t *testing.T) {
	h := newHarness(t, threeNodes()...)
	for i := range 300 {
		h.at(10*time.Second+time.Duration(i)*time.Millisecond, func() {
			h.env.SignalWorkflow(SignalDisable, DisableSignal{Requester: fmt.Sprintf("tenant-%03d", i), Reason: strings.Repeat("r", 900)})
		})
	}
	h.at(11*time.Second, func() {
		h.env.SignalWorkflow(SignalDisable, DisableSignal{Requester: "bad\x00requester"})
		h.env.SignalWorkflow(SignalEnable, EnableSignal{Requester: "x", Reason: strings.Repeat("y", health.MaxTextBytes+1)})
	})
	var ghost, member *updateOutcome
	h.at(12*time.Second, func() { ghost = h.update(UpdateMaintain, MaintainRequest{NodeID: "ghost", Requester: "op"}) })
	h.at(13*time.Second, func() { member = h.update(UpdateMaintain, MaintainRequest{NodeID: "n2", Requester: "op"}) })
	var s Status
	h.at(20*time.Second, func() { s = h.status() })
	h.run(Input{Registration: urlRegistration()}, 30*time.Second)

	if s.Counters.SignalsDropped != 300-MaxPauses+2 {
		t.Errorf("dropped signals: got %d, want %d (beyond %d pauses, and the 2 invalid)", s.Counters.SignalsDropped, 300-MaxPauses+2, MaxPauses)
	}
	if n := strings.Count(s.EnabledNote, "disabled by "); n != MaxPauses || len(s.EnabledNote) > MaxPauses*1100 {
		t.Errorf("the pause note: %d pauses in %d bytes, want %d", n, len(s.EnabledNote), MaxPauses)
	}
	if ghost.err == nil || !strings.Contains(ghost.err.Error(), "node_id: no node ghost in the cluster") {
		t.Errorf("maintain a non-member: got %v, want refused", ghost.err)
	}
	if member.err != nil || member.res.Decision.Reason != triage.ReasonMaintenance {
		t.Errorf("maintain n2: got %+v, want it in maintenance", member)
	}
}
