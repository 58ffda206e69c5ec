package triage

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// Evaluate runs the modes in policy order with Senlin's short-circuit: under
// ANY_FAILED it stops at the first definite unhealthy result, under ALL_FAILED
// at the first definite healthy one. Modes after the stop are not run at all.
// A suspect result never stops evaluation, because its verdict may still
// change. Combine folds the results.
func Evaluate(cond health.Conditional, modes []health.DetectionMode, run func(health.DetectionMode) health.ModeResult) []health.ModeResult {
	out := make([]health.ModeResult, 0, len(modes))
	for _, m := range modes {
		r := run(m)
		r.Type = m.Type
		out = append(out, r)
		if r.Suspect {
			continue
		}
		if cond == health.AllFailed && r.Verdict == health.Healthy {
			break
		}
		if cond != health.AllFailed && r.Verdict == health.Unhealthy {
			break
		}
	}
	return out
}

// Judge is a node's final verdict of a round, from its status and the
// results of the polling modes: a node that is not ACTIVE is skipped; the
// results combine under recovery_conditional; a node updated within the grace
// period (node_update_timeout) is not unhealthy.
func Judge(cond health.Conditional, grace time.Duration, status health.NodeStatus, results []health.ModeResult, lastUpdate, now time.Time) (health.Verdict, string) {
	if status != health.NodeActive {
		return health.Skipped, "node is " + string(status)
	}
	v, why := Combine(cond, results)
	return ApplyGrace(v, why, lastUpdate, grace, now)
}

// Judgement is a node's verdict of a round, as both the sweep and the
// workflow read it.
type Judgement struct {
	Verdict health.Verdict
	Reason  string
	// InGrace: healthy only because the node changed within its grace
	// period; its checks failed, so it is still shown.
	InGrace bool
	// Suspect: a poll URL's first attempt failed with retries to come. The
	// node counts as unhealthy until the workflow confirms it, and is judged
	// again then.
	Suspect bool
}

// Shown reports whether the node is worth a check record: not healthy, or
// healthy only by its grace period.
func (j Judgement) Shown() bool { return j.Verdict != health.Healthy || j.InGrace }

// JudgeNode is the one judgement of a node in a round: Judge, with its grace
// and its suspicion.
func JudgeNode(cond health.Conditional, grace time.Duration, status health.NodeStatus, results []health.ModeResult, lastUpdate, now time.Time) Judgement {
	v, why := Judge(cond, grace, status, results, lastUpdate, now)
	if slices.ContainsFunc(results, func(r health.ModeResult) bool { return r.Suspect }) {
		return Judgement{Verdict: health.Unhealthy, Reason: "first attempt failed, retries to come: " + why, Suspect: true}
	}
	return Judgement{Verdict: v, Reason: why, InGrace: v == health.Healthy && Failed(cond, status, results)}
}

// Failed reports whether an ACTIVE node's checks failed, grace aside: a node
// within its grace period that Judge calls healthy is still worth showing.
func Failed(cond health.Conditional, status health.NodeStatus, results []health.ModeResult) bool {
	if status != health.NodeActive {
		return false
	}
	v, _ := Combine(cond, results)
	return v == health.Unhealthy
}

// StaleEvent reports why a request about a node's physical resource no longer
// applies: the node's resource changed since the event (an event about a
// resource the engine already replaced). Heat names a stack by its ARN while
// the node holds the bare id; they are the same resource.
func StaleEvent(eventPhysicalID, nodePhysicalID string) (string, bool) {
	if eventPhysicalID == "" || nodePhysicalID == "" || health.SamePhysicalResource(nodePhysicalID, eventPhysicalID) {
		return "", false
	}
	return fmt.Sprintf("event is about physical resource %s, node now has %s", eventPhysicalID, nodePhysicalID), true
}

// Combine folds mode results into one verdict with recovery_conditional.
// Unknown results never make a node unhealthy: under ANY_FAILED an unknown
// result with no failure is unknown; under ALL_FAILED a node is unhealthy only
// when every mode definitely failed.
func Combine(cond health.Conditional, results []health.ModeResult) (health.Verdict, string) {
	if len(results) == 0 {
		return health.Unknown, "no detection mode ran"
	}
	var failed, unknown, healthy []string
	for _, r := range results {
		d := string(r.Type)
		if r.Detail != "" {
			d += ": " + r.Detail
		}
		switch r.Verdict {
		case health.Unhealthy:
			failed = append(failed, d)
		case health.Healthy:
			healthy = append(healthy, d)
		default:
			unknown = append(unknown, d)
		}
	}
	if cond == health.AllFailed {
		switch {
		case len(healthy) > 0:
			return health.Healthy, strings.Join(healthy, "; ")
		case len(unknown) > 0:
			return health.Unknown, strings.Join(unknown, "; ")
		}
		return health.Unhealthy, strings.Join(failed, "; ")
	}
	switch {
	case len(failed) > 0:
		return health.Unhealthy, strings.Join(failed, "; ")
	case len(unknown) > 0:
		return health.Unknown, strings.Join(unknown, "; ")
	}
	return health.Healthy, strings.Join(healthy, "; ")
}

// ApplyGrace turns an unhealthy verdict into healthy while the node is within
// its grace period: updated (or created, if never updated) no more than grace
// ago. Senlin's rule: unhealthy only when now - last update > grace.
func ApplyGrace(v health.Verdict, reason string, lastUpdate time.Time, grace time.Duration, now time.Time) (health.Verdict, string) {
	if v != health.Unhealthy || lastUpdate.IsZero() {
		return v, reason
	}
	if age := now.Sub(lastUpdate); age <= grace {
		return health.Healthy, fmt.Sprintf("within grace period (updated %s ago, grace %s): %s",
			age.Truncate(time.Second), grace, reason)
	}
	return v, reason
}
