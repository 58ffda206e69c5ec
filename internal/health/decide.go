package health

import (
	"fmt"
	"strings"
	"time"
)

// ModeResult is the result of one detection mode on one node.
type ModeResult struct {
	Type    DetectionType `json:"type"`
	Verdict Verdict       `json:"verdict"`
	// Suspect marks a poll-URL result whose first attempt failed while more
	// attempts are due: the verdict is provisional until they are made.
	Suspect bool   `json:"suspect,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Evaluate runs the modes in policy order with Senlin's short-circuit: under
// ANY_FAILED it stops at the first definite unhealthy result, under ALL_FAILED
// at the first definite healthy one. Modes after the stop are not run at all.
// A suspect result never stops evaluation, because its verdict may still change.
func Evaluate(cond Conditional, modes []DetectionMode, run func(DetectionMode) ModeResult) []ModeResult {
	out := make([]ModeResult, 0, len(modes))
	for _, m := range modes {
		r := run(m)
		r.Type = m.Type
		out = append(out, r)
		if r.Suspect {
			continue
		}
		if cond == AllFailed && r.Verdict == Healthy {
			break
		}
		if cond != AllFailed && r.Verdict == Unhealthy {
			break
		}
	}
	return out
}

// Combine folds mode results into one verdict with recovery_conditional.
// Unknown results never make a node unhealthy: under ANY_FAILED an unknown
// result with no failure is unknown; under ALL_FAILED a node is unhealthy only
// when every mode definitely failed.
func Combine(cond Conditional, results []ModeResult) (Verdict, string) {
	if len(results) == 0 {
		return Unknown, "no detection mode ran"
	}
	var failed, unknown, healthy []string
	for _, r := range results {
		d := string(r.Type)
		if r.Detail != "" {
			d += ": " + r.Detail
		}
		switch r.Verdict {
		case Unhealthy:
			failed = append(failed, d)
		case Healthy:
			healthy = append(healthy, d)
		default:
			unknown = append(unknown, d)
		}
	}
	if cond == AllFailed {
		switch {
		case len(healthy) > 0:
			return Healthy, strings.Join(healthy, "; ")
		case len(unknown) > 0:
			return Unknown, strings.Join(unknown, "; ")
		}
		return Unhealthy, strings.Join(failed, "; ")
	}
	switch {
	case len(failed) > 0:
		return Unhealthy, strings.Join(failed, "; ")
	case len(unknown) > 0:
		return Unknown, strings.Join(unknown, "; ")
	}
	return Healthy, strings.Join(healthy, "; ")
}

// ApplyGrace turns an unhealthy verdict into healthy while the node is within
// its grace period: updated (or created, if never updated) no more than grace
// ago. Senlin's rule: unhealthy only when now - last update > grace.
func ApplyGrace(v Verdict, reason string, lastUpdate time.Time, grace time.Duration, now time.Time) (Verdict, string) {
	if v != Unhealthy || lastUpdate.IsZero() {
		return v, reason
	}
	if age := now.Sub(lastUpdate); age <= grace {
		return Healthy, fmt.Sprintf("within grace period (updated %s ago, grace %s): %s",
			age.Truncate(time.Second), grace, reason)
	}
	return v, reason
}
