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

// The client refuses what the workflow would: the rules of signals and
// updates are their Validate methods (workflows and health), so that the
// starter, an engine, the signal bridge and the workflow itself apply the
// same ones. Fields are named as the workflow's JSON spells them.

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

// checkEnable checks an enable signal.
func checkEnable(s workflows.EnableSignal) error { return refuse(s.Validate()) }

// checkUnregister checks an unregister signal.
func checkUnregister(s workflows.UnregisterSignal) error { return refuse(s.Validate()) }

// checkDisable checks a disable signal.
func checkDisable(s workflows.DisableSignal) error { return refuse(s.Validate()) }

// checkRecover checks a recover signal (RecoverSignal.Validate).
func checkRecover(s health.RecoverSignal) error {
	return refuse(s.Validate())
}

// checkNodeRequest checks the input of approve, deny and clear.
func checkNodeRequest(r workflows.NodeRequest) error { return refuse(r.Validate()) }

// checkMaintain checks the input of maintain, with the rules of the
// workflow's own validator.
func checkMaintain(r workflows.MaintainRequest) error { return refuse(r.Validate()) }

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
