package workflows

import (
	"errors"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// The rules of what a signal or an update may carry: one place for the
// client (healthclient refuses before sending) and the workflow (which
// drops a raw signal that breaks them, and whose update validators refuse
// it), so that a caller of the raw API cannot grow the workflow's state.
// Fields are named as the JSON spells them.

// checkNote checks the requester and reason every signal and update carries.
func checkNote(requester, reason string) error {
	return errors.Join(health.CheckID("requester", requester, false), health.CheckText("reason", reason))
}

// Validate checks an enable signal.
func (s EnableSignal) Validate() error { return checkNote(s.Requester, s.Reason) }

// Validate checks an unregister signal.
func (s UnregisterSignal) Validate() error { return checkNote(s.Requester, s.Reason) }

// Validate checks a disable signal: for_seconds from 0 to a year, and not
// together with indefinite.
func (s DisableSignal) Validate() error {
	errs := []error{checkNote(s.Requester, s.Reason), health.CheckPauseSeconds("for_seconds", s.ForSeconds)}
	if s.ForSeconds > 0 && s.Indefinite {
		errs = append(errs, health.FieldError{Path: "indefinite", Rule: "a pause with for_seconds is not indefinite"})
	}
	return errors.Join(errs...)
}

// Validate checks the input of approve, deny and clear.
func (r NodeRequest) Validate() error {
	return errors.Join(health.CheckID("node_id", r.NodeID, true), checkNote(r.Requester, r.Reason))
}

// Validate checks the input of maintain.
func (r MaintainRequest) Validate() error {
	errs := []error{
		health.CheckID("node_id", r.NodeID, true), checkNote(r.Requester, r.Reason),
		health.CheckPauseSeconds("for_seconds", r.ForSeconds),
	}
	if r.End && (r.ForSeconds > 0 || r.Indefinite) {
		errs = append(errs, health.FieldError{Path: "end", Rule: "ends a maintenance; for_seconds and indefinite start one"})
	}
	if r.ForSeconds > 0 && r.Indefinite {
		errs = append(errs, health.FieldError{Path: "indefinite", Rule: "a maintenance with for_seconds is not indefinite"})
	}
	return errors.Join(errs...)
}

// Bounds of what the workflow keeps for its callers.
const (
	// MaxPauses bounds the requesters whose pauses a cluster keeps at once:
	// a disable from one more is dropped until one is lifted or expires.
	MaxPauses = 64
	// MaxMaintained bounds the nodes in maintenance at once.
	MaxMaintained = triage.MaxMaintained
)
