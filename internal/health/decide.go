package health

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
