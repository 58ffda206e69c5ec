package workflows

import (
	"errors"
	"fmt"
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
