package health

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Safety is healthd's remediation safety policy: the part of properties.healthd
// that decides how much recovery a cluster may get at once. Senlin's schema has
// no place for it; a policy without it gets the defaults the methods below
// give, which keep Senlin's detection timing and turn on two rules only: the
// max-unhealthy short-circuit, and a node needs a human after
// DefaultMaxFailedRecoveries failed recoveries in a row.
type Safety struct {
	// FailureThreshold is how many consecutive unhealthy rounds make a node
	// unhealthy (0 means 1, Senlin's timing).
	FailureThreshold int `json:"failure_threshold,omitempty"`
	// SuccessThreshold is how many consecutive healthy rounds make an
	// unhealthy node healthy again (0 means 1).
	SuccessThreshold int `json:"success_threshold,omitempty"`
	// MaxUnhealthy is how many unhealthy nodes a cluster may have and still
	// get recoveries: a count ("3") or a percentage of its nodes ("40%"),
	// at least one node either way; "" means DefaultMaxUnhealthy and "100%"
	// turns the short-circuit off. While more are unhealthy, none is
	// recovered: a zone or network outage is not fixed by recreating nodes.
	MaxUnhealthy string `json:"max_unhealthy,omitempty"`
	// MaxInFlight caps the recoveries running at once in the cluster (0: no cap).
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// Budget is a token bucket of recoveries per window (zero: none).
	Budget Budget `json:"budget,omitzero"`
	// Escalation lists the operations a node climbs through when it fails
	// again within the probation of its last recovery; empty means the
	// policy's one recovery action, with no probation.
	Escalation []EscalationStep `json:"escalation,omitempty"`
	// MaxFailedRecoveries is how many recoveries of a node may fail in a row
	// before it needs a human (0 means DefaultMaxFailedRecoveries). A
	// recovery that succeeded counts as failed when the node fails again
	// before it is seen working (runs of generation seen-back).
	MaxFailedRecoveries int `json:"max_failed_recoveries,omitempty"`
	// Flap quarantines a node whose verdict keeps changing (zero: off).
	Flap Flap `json:"flap,omitzero"`
	// DryRun decides, records and shows everything, and asks for no recovery.
	DryRun bool `json:"dry_run,omitempty"`
	// Approval makes some operations wait for an operator's answer.
	Approval Approval `json:"approval,omitzero"`
	// PauseMax bounds a pause without an expiry of its own, in seconds (0
	// means DefaultPauseMax); a pause lasts forever only when it asks to.
	PauseMax int `json:"pause_max,omitempty"`
	// EventSettle is how many seconds recover requests (notifications, the
	// engine, operators) are collected, from the first one, before they are
	// judged together, so that a burst of failures counts against
	// max_unhealthy as one outage (nil means DefaultEventSettle; 0 judges
	// each request alone, as before).
	EventSettle *int `json:"event_settle,omitempty"`
	// ConfirmTimeout, in a cluster without polling rounds, is how many
	// seconds a node whose recovery succeeded keeps counting toward
	// max_unhealthy while nothing says it is back (a notification such as
	// instance.power_on.end, the engine's node-back signal); then it is
	// taken as back (0 means DefaultConfirmTimeout).
	ConfirmTimeout int `json:"confirm_timeout,omitempty"`
}

// Budget is a token bucket: Recoveries tokens, refilled evenly over Window
// seconds; each recovery takes one.
type Budget struct {
	Recoveries int `json:"recoveries"`
	Window     int `json:"window"`
}

// EscalationStep is one rung of the escalation ladder.
type EscalationStep struct {
	Operation Operation `json:"operation"`
	// Probation, in seconds, is how long after a successful recovery by this
	// step a new failure climbs to the next step instead of starting over.
	Probation int `json:"probation"`
}

// Flap: a node that changes verdict more than Changes times within Window
// seconds is quarantined (reported, not recovered) until its verdict has
// held for Stable seconds.
type Flap struct {
	Changes int `json:"changes"`
	Window  int `json:"window"`
	Stable  int `json:"stable"`
}

// Approval lists the operations that wait for an operator's approve or deny,
// for at most Timeout seconds, after which Default ("approve" or "deny")
// applies.
type Approval struct {
	Operations []Operation `json:"operations,omitempty"`
	Timeout    int         `json:"timeout,omitempty"`
	Default    string      `json:"default,omitempty"`
}

// Safety defaults.
const (
	// DefaultMaxUnhealthy: with it, one failed node of any cluster of two or
	// more is recovered, and half the nodes of a cluster of four or more are
	// not.
	DefaultMaxUnhealthy = "40%"
	// DefaultMaxFailedRecoveries: a node whose recoveries failed three times
	// in a row needs a human.
	DefaultMaxFailedRecoveries = 3
	// DefaultPauseMax bounds a pause that has no expiry of its own: a day.
	DefaultPauseMax = 24 * 60 * 60
	// DefaultApprovalTimeout is how long an approval waits: an hour;
	// MaxApprovalTimeout bounds the setting (7 days): a recovery that
	// nobody answers in a week takes the policy's default.
	DefaultApprovalTimeout = 60 * 60
	MaxApprovalTimeout     = 7 * 24 * 60 * 60
	// DefaultEventSettle collects a burst of recover requests for 5 seconds
	// before judging it; MaxEventSettle bounds the setting, so that no
	// failure waits long for its recovery.
	DefaultEventSettle = 5
	MaxEventSettle     = 60
	// DefaultConfirmTimeout: a recovered node of a cluster without rounds
	// counts toward max_unhealthy for up to 2 minutes unless something says
	// it is back; MaxConfirmTimeout bounds the setting (a day).
	DefaultConfirmTimeout = 2 * 60
	MaxConfirmTimeout     = 24 * 60 * 60
	// Approval answers.
	Approve = "approve"
	Deny    = "deny"
)

// Failures is the failure threshold in effect.
func (s Safety) Failures() int { return max(1, s.FailureThreshold) }

// Successes is the success threshold in effect.
func (s Safety) Successes() int { return max(1, s.SuccessThreshold) }

// FailedRecoveriesLimit is MaxFailedRecoveries in effect.
func (s Safety) FailedRecoveriesLimit() int {
	if s.MaxFailedRecoveries > 0 {
		return s.MaxFailedRecoveries
	}
	return DefaultMaxFailedRecoveries
}

// PauseBound is the longest a pause without its own expiry lasts.
func (s Safety) PauseBound() time.Duration {
	if s.PauseMax > 0 {
		return time.Duration(s.PauseMax) * time.Second
	}
	return DefaultPauseMax * time.Second
}

// MaxUnhealthyLimit parses MaxUnhealthy: a count, or a percentage when pct.
func (s Safety) MaxUnhealthyLimit() (n int, pct bool, err error) {
	v := strings.TrimSpace(s.MaxUnhealthy)
	if v == "" {
		v = DefaultMaxUnhealthy
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 100 {
			return 0, false, fmt.Errorf("must be a count such as 3 or a percentage from 0%% to 100%% such as 40%%, got %q", s.MaxUnhealthy)
		}
		return n, true, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("must be a count such as 3 or a percentage from 0%% to 100%% such as 40%%, got %q", s.MaxUnhealthy)
	}
	return n, false, nil
}

// AllowedUnhealthy is how many of a cluster's nodes may be unhealthy while
// recoveries go on: at least one, so that a lone failure is always recovered;
// all of them when the short-circuit is off ("100%").
func (s Safety) AllowedUnhealthy(nodes int) int {
	n, pct, err := s.MaxUnhealthyLimit()
	if err != nil {
		n, pct, _ = Safety{}.MaxUnhealthyLimit()
	}
	if pct {
		n = nodes * n / 100
	}
	return max(1, n)
}

// Ladder is the escalation ladder in effect: Escalation, or the policy's one
// recovery action without probation.
func (r Registration) Ladder() []EscalationStep {
	if len(r.Safety.Escalation) > 0 {
		return r.Safety.Escalation
	}
	return []EscalationStep{{Operation: r.Recovery.Name}}
}

// Settle is how long recover requests are collected before they are judged
// together; 0 judges each alone.
func (s Safety) Settle() time.Duration {
	if s.EventSettle == nil {
		return DefaultEventSettle * time.Second
	}
	return time.Duration(max(0, *s.EventSettle)) * time.Second
}

// Confirm is how long a recovered node of a cluster without rounds counts
// toward max_unhealthy unless something says it is back.
func (s Safety) Confirm() time.Duration {
	if s.ConfirmTimeout > 0 {
		return time.Duration(s.ConfirmTimeout) * time.Second
	}
	return DefaultConfirmTimeout * time.Second
}

// NeedsApproval reports whether op waits for an operator's answer.
func (s Safety) NeedsApproval(op Operation) bool {
	for _, o := range s.Approval.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// ApprovalWait is how long an approval waits before its default applies.
func (s Safety) ApprovalWait() time.Duration {
	if s.Approval.Timeout > 0 {
		return time.Duration(s.Approval.Timeout) * time.Second
	}
	return DefaultApprovalTimeout * time.Second
}

// ApprovalDefault is the answer when an approval times out: deny unless the
// policy says approve.
func (s Safety) ApprovalDefault() string {
	if s.Approval.Default == Approve {
		return Approve
	}
	return Deny
}

func (s Safety) clone() Safety {
	s.Escalation = slices.Clone(s.Escalation)
	s.Approval.Operations = slices.Clone(s.Approval.Operations)
	if s.EventSettle != nil {
		v := *s.EventSettle
		s.EventSettle = &v
	}
	return s
}

// checkSafety applies the rules of properties.healthd; bad skips the paths
// whose value could not be parsed.
func checkSafety(s Safety, bad func(string) bool) []FieldError {
	var errs []FieldError
	add := func(path, format string, args ...any) {
		if !bad(path) {
			errs = append(errs, FieldError{Path: path, Rule: fmt.Sprintf(format, args...)})
		}
	}
	nonNegative := map[string]int{
		pathExtension + ".failure_threshold": s.FailureThreshold, pathExtension + ".success_threshold": s.SuccessThreshold,
		pathExtension + ".max_in_flight": s.MaxInFlight, pathExtension + ".max_failed_recoveries": s.MaxFailedRecoveries,
		pathExtension + ".pause_max": s.PauseMax, pathBudget + ".recoveries": s.Budget.Recoveries,
		pathBudget + ".window": s.Budget.Window, pathFlap + ".changes": s.Flap.Changes, pathFlap + ".window": s.Flap.Window,
		pathFlap + ".stable": s.Flap.Stable, pathApproval + ".timeout": s.Approval.Timeout,
	}
	for _, path := range slices.Sorted(maps.Keys(nonNegative)) {
		if v := nonNegative[path]; v < 0 {
			add(path, "The value '%d' must not be negative", v)
		}
	}
	if v := s.EventSettle; v != nil && (*v < 0 || *v > MaxEventSettle) {
		add(pathExtension+".event_settle", "The value '%d' must be from 0 (judge each request alone) to %d seconds", *v, MaxEventSettle)
	}
	if v := s.Approval.Timeout; v > MaxApprovalTimeout {
		add(pathApproval+".timeout", "The value '%d' must be from 0 (the default, %d) to %d seconds (7 days)", v, DefaultApprovalTimeout, MaxApprovalTimeout)
	}
	if v := s.ConfirmTimeout; v < 0 || v > MaxConfirmTimeout {
		add(pathExtension+".confirm_timeout", "The value '%d' must be from 0 (the default, %d) to %d seconds", v, DefaultConfirmTimeout, MaxConfirmTimeout)
	}
	if _, _, err := s.MaxUnhealthyLimit(); err != nil {
		add(pathMaxUnhealthy, "%s", err.Error())
	}
	if (s.Budget.Recoveries > 0) != (s.Budget.Window > 0) {
		add(pathBudget, "recoveries and window must both be set (a budget of recoveries per window of seconds), got %d per %d", s.Budget.Recoveries, s.Budget.Window)
	}
	if s.Flap.Changes > 0 && (s.Flap.Window <= 0 || s.Flap.Stable <= 0) {
		add(pathFlap, "changes needs a window and a stable time in seconds, got window %d and stable %d", s.Flap.Window, s.Flap.Stable)
	}
	for i, st := range s.Escalation {
		if p := specIndex(pathEscalation, i) + ".operation"; !slices.Contains(policyOperations, string(st.Operation)) {
			add(p, "%s", allowedRule(string(st.Operation), policyOperations))
		}
		if st.Probation < 0 {
			add(specIndex(pathEscalation, i)+".probation", "The value '%d' must not be negative", st.Probation)
		}
	}
	for i, op := range s.Approval.Operations {
		if !slices.Contains(policyOperations, string(op)) {
			add(specIndex(pathApproval+".operations", i), "%s", allowedRule(string(op), policyOperations))
		}
	}
	if d := s.Approval.Default; d != "" && d != Approve && d != Deny {
		add(pathApproval+".default", "%s", allowedRule(d, []string{Approve, Deny}))
	}
	return errs
}
