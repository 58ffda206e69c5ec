package workflows

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Operator updates: approve or deny a waiting recovery, clear a node that
// needs a human, put a node in maintenance. Each is validated before it is
// accepted (a refused update leaves no trace in the history), goes through the
// decision core, and answers with the decision it led to.

func (w *clusterHealth) registerUpdates(ctx workflow.Context) error {
	for _, u := range []struct {
		name    string
		approve bool
	}{{UpdateApprove, true}, {UpdateDeny, false}} {
		approve := u.approve
		err := workflow.SetUpdateHandlerWithOptions(ctx, u.name,
			func(ctx workflow.Context, req NodeRequest) (UpdateResult, error) {
				return w.operatorDecision(ctx, triage.Answer{NodeID: req.NodeID, Approve: approve, By: req.Requester, Reason: req.Reason}), nil
			},
			workflow.UpdateHandlerOptions{Validator: func(req NodeRequest) error {
				if err := checkNodeRequest(req); err != nil {
					return err
				}
				if m := w.st.Triage.Nodes[req.NodeID]; m == nil || m.Approval == nil {
					return fmt.Errorf("node_id: no recovery of node %s is waiting for approval", req.NodeID)
				}
				return nil
			}})
		if err != nil {
			return fmt.Errorf("register %s update: %w", u.name, err)
		}
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateClear,
		func(ctx workflow.Context, req NodeRequest) (UpdateResult, error) {
			return w.operatorDecision(ctx, triage.Clear{NodeID: req.NodeID, By: req.Requester, Reason: req.Reason}), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(req NodeRequest) error {
			if err := checkNodeRequest(req); err != nil {
				return err
			}
			if m := w.st.Triage.Nodes[req.NodeID]; m == nil || (m.NeedsHuman == "" && !m.Quarantined && m.FailedRecoveries == 0) {
				return fmt.Errorf("node_id: node %s neither needs a human nor is quarantined: nothing to clear", req.NodeID)
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateClear, err)
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, UpdateMaintain,
		func(ctx workflow.Context, req MaintainRequest) (UpdateResult, error) {
			if req.End {
				return w.operatorDecision(ctx, triage.Maintain{NodeID: req.NodeID}), nil
			}
			p := w.newPause(ctx, req.Requester, req.Reason, req.ForSeconds, req.Indefinite)
			return w.operatorDecision(ctx, triage.Maintain{NodeID: req.NodeID, Pause: p}), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(req MaintainRequest) error {
			var errs []error
			if strings.TrimSpace(req.NodeID) == "" {
				errs = append(errs, errors.New("node_id: required"))
			}
			if req.ForSeconds < 0 || req.ForSeconds > health.MaxPauseSeconds {
				errs = append(errs, fmt.Errorf("for_seconds: must be from 0 to %d, got %d", health.MaxPauseSeconds, req.ForSeconds))
			}
			if req.End && (req.ForSeconds > 0 || req.Indefinite) {
				errs = append(errs, errors.New("end: ends a maintenance; for_seconds and indefinite start one"))
			}
			if req.ForSeconds > 0 && req.Indefinite {
				errs = append(errs, errors.New("indefinite: a maintenance with for_seconds is not indefinite"))
			}
			return errors.Join(errs...)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateMaintain, err)
	}
	return nil
}

func checkNodeRequest(req NodeRequest) error {
	if strings.TrimSpace(req.NodeID) == "" {
		return errors.New("node_id: required")
	}
	return nil
}

// operatorDecision runs an operator's trigger through the decision core and
// carries out what it decided.
func (w *clusterHealth) operatorDecision(ctx workflow.Context, t triage.Trigger) UpdateResult {
	if a, ok := t.(triage.Answer); ok {
		if cancel := w.approvalTimers[a.NodeID]; cancel != nil {
			cancel()
			delete(w.approvalTimers, a.NodeID)
		}
	}
	r, events := w.decide(ctx, t)
	w.recoverDecided(ctx, r, health.SourceOperator, nil, "")
	w.record(ctx, events)
	w.retryHeld(ctx)
	w.publish(ctx)
	var res UpdateResult
	if len(r.Decisions) > 0 {
		res.Decision = r.Decisions[len(r.Decisions)-1]
	}
	return res
}
