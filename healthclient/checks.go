package healthclient

import (
	"errors"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// ErrInvalid is wrapped by the errors of requests refused before anything is
// sent: a cluster ID outside health.ClusterIDRule, a registration that does
// not validate, or a signal or update field that is missing, too long or out
// of range. The message names the field (cluster_id, node_id, for_seconds,
// ...) and the rule. Sending the same request again cannot succeed.
var ErrInvalid = errors.New("invalid request")

// Every check of what the client sends lives here, so that the starter, an
// engine and the signal bridge are refused the same way. Fields are named as
// the workflow's JSON spells them.

// invalid marks a refused request: it reads as the error it wraps and
// matches ErrInvalid.
type invalid struct{ err error }

func (e invalid) Error() string        { return e.err.Error() }
func (e invalid) Unwrap() error        { return e.err }
func (e invalid) Is(target error) bool { return target == ErrInvalid }

// refuse wraps err, when there is one, as a refused request.
func refuse(err error) error {
	if err == nil {
		return nil
	}
	return invalid{err}
}

// checkNote checks the requester and reason every signal and update carries.
func checkNote(requester, reason string) error {
	return errors.Join(health.CheckID("requester", requester, false), health.CheckText("reason", reason))
}

// checkEnable checks an enable signal.
func checkEnable(s workflows.EnableSignal) error {
	return refuse(checkNote(s.Requester, s.Reason))
}

// checkUnregister checks an unregister signal.
func checkUnregister(s workflows.UnregisterSignal) error {
	return refuse(checkNote(s.Requester, s.Reason))
}

// checkDisable checks a disable signal: for_seconds from 0 to a year, and
// not together with indefinite.
func checkDisable(s workflows.DisableSignal) error {
	errs := []error{checkNote(s.Requester, s.Reason), health.CheckPauseSeconds("for_seconds", s.ForSeconds)}
	if s.ForSeconds > 0 && s.Indefinite {
		errs = append(errs, health.FieldError{Path: "indefinite", Rule: "a pause with for_seconds is not indefinite"})
	}
	return refuse(errors.Join(errs...))
}

// checkRecover checks a recover signal (RecoverSignal.Validate).
func checkRecover(s health.RecoverSignal) error {
	return refuse(s.Validate())
}

// checkNodeRequest checks the input of approve, deny and clear.
func checkNodeRequest(r workflows.NodeRequest) error {
	return refuse(errors.Join(health.CheckID("node_id", r.NodeID, true), checkNote(r.Requester, r.Reason)))
}

// checkMaintain checks the input of maintain, with the rules of the
// workflow's own validator.
func checkMaintain(r workflows.MaintainRequest) error {
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
	return refuse(errors.Join(errs...))
}

// checkRegistration rejects a registration no workflow could run: the
// policy rules that need no configured limits (Registration.Validate with
// zero limits), the cluster ID's included.
func checkRegistration(reg health.Registration) error {
	if err := reg.Validate(health.Limits{}); err != nil {
		return refuse(err)
	}
	return nil
}

// checkClusterID checks the cluster a request is for.
func checkClusterID(clusterID string) error {
	return refuse(health.CheckClusterID(clusterID))
}
