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

func (w *clusterHealth) healthState() (string, int64) {
	var unhealthy, unknown int64
	for _, ns := range w.st.Nodes {
		switch ns.Verdict {
		case health.Unhealthy:
			unhealthy++
		case health.Unknown:
			unknown++
		}
	}
	switch {
	case !w.st.Enabled:
		return StateDisabled, unhealthy
	case w.does().FleetStates && w.st.Hold != nil:
		return StateHeld, unhealthy
	case len(w.st.InFlight) > 0:
		return StateRecovering, unhealthy
	case w.does().FleetStates && w.waitsForAPerson():
		return StateWaiting, unhealthy
	case unhealthy > 0:
		return StateDegraded, unhealthy
	case unknown > 0:
		return StateUnknown, unhealthy
	case !w.reg.Polling():
		return StateEvents, unhealthy
	}
	return StateHealthy, unhealthy
}

// waitsForAPerson reports whether a node's decision waits for a person: an
// approval, or a human after failed recoveries or flapping.
func (w *clusterHealth) waitsForAPerson() bool {
	for _, d := range w.st.Decisions {
		if waitsForAPerson(d.Reason) {
			return true
		}
	}
	return false
}

// waitsForAPerson reports whether a decision's reason is one a person must
// act on; the status details list those decisions too.
func waitsForAPerson(reason string) bool {
	switch reason {
	case triage.ReasonAwaitingApproval, triage.ReasonNeedsHuman, triage.ReasonQuarantined:
		return true
	}
	return false
}

// publish keeps search attributes and the UI details current; it writes
// search attributes only when they change, so a healthy round costs no event.
func (w *clusterHealth) publish(ctx workflow.Context) {
	state, unhealthy := w.healthState()
	cur := saValues{enabled: w.st.Enabled, state: state, unhealthy: unhealthy, set: true}
	if cur != w.lastSA {
		w.lastSA = cur
		err := workflow.UpsertTypedSearchAttributes(ctx,
			SAClusterID.ValueSet(w.reg.ClusterID),
			SAHealthEnabled.ValueSet(cur.enabled),
			SAHealthState.ValueSet(cur.state),
			SAUnhealthyNodes.ValueSet(cur.unhealthy))
		if err != nil {
			w.logger.Warn("cannot upsert search attributes", "error", err)
		}
	}
	next := "none"
	if !w.st.NextRound.IsZero() {
		next = w.st.NextRound.UTC().Format(time.RFC3339)
	}
	details := fmt.Sprintf("**%s** · %d nodes · %d unhealthy · %d recovering · rounds %d (missed %d) · next round %s\n\n%s",
		state, len(w.st.Nodes), unhealthy, len(w.st.InFlight), w.st.Counters.Rounds, w.st.Counters.MissedRounds, next, w.st.EnabledNote)
	if w.st.LastRoundError != "" {
		details += "\n\n**last round failed:** " + w.st.LastRoundError
	}
	if w.st.Hold != nil {
		details += "\n\n**recoveries held:** " + w.st.Hold.Detail
	}
	if b := w.st.Burst; b != nil {
		details += fmt.Sprintf("\n\n**settling:** %d signals since %s, judged together at %s", len(b.Events),
			b.Since.UTC().Format(time.RFC3339), b.Until.UTC().Format(time.RFC3339))
	}
	// Decisions that wait for a person, as operators look for them.
	for _, id := range workflow.DeterministicKeys(w.st.Decisions) {
		if d := w.st.Decisions[id]; waitsForAPerson(d.Reason) {
			details += fmt.Sprintf("\n\n**%s %s:** %s", id, strings.ReplaceAll(d.Reason, "_", " "), d.Detail)
		}
	}
	workflow.SetCurrentDetails(ctx, details)
}

func (w *clusterHealth) status() (Status, error) {
	state, _ := w.healthState()
	s := Status{
		ClusterID:      w.reg.ClusterID,
		Registration:   w.reg,
		Enabled:        w.st.Enabled,
		EnabledNote:    w.st.EnabledNote,
		DisabledUntil:  w.st.DisabledUntil,
		State:          state,
		NextRound:      w.st.NextRound,
		LastRound:      w.st.LastRound,
		LastRoundError: w.st.LastRoundError,
		LimitsNote:     w.limitsNote,
		LastIgnored:    w.st.LastIgnored,
		Hold:           w.st.Hold,
		Decisions:      []NodeDecision{},
		Pauses:         w.st.Pauses,
		NodeCount:      w.st.NodeCount,
		LastSweep:      w.st.LastSweep,
		RoundRunning:   w.roundBusy,
		Rules:          w.gen.String(),
		Counters:       w.st.Counters,
		Nodes:          []NodeStatus{},
		InFlight:       []Recovery{},
		Recent:         slices.Clone(w.st.Recent),
		Runs:           w.st.Runs,
		Burst:          w.st.Burst,
	}
	for _, id := range workflow.DeterministicKeys(w.st.Nodes) {
		s.Nodes = append(s.Nodes, NodeStatus{ID: id, NodeState: *w.st.Nodes[id], Recovering: w.st.InFlight[id] != nil})
	}
	slices.SortStableFunc(s.Nodes, func(x, y NodeStatus) int { return strings.Compare(x.Name, y.Name) })
	for _, id := range workflow.DeterministicKeys(w.st.InFlight) {
		s.InFlight = append(s.InFlight, *w.st.InFlight[id])
	}
	for _, id := range workflow.DeterministicKeys(w.st.Decisions) {
		s.Decisions = append(s.Decisions, *w.st.Decisions[id])
	}
	if s.Recent == nil {
		s.Recent = []Recovery{}
	}
	return s, nil
}
