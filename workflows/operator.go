package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
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
				if err := req.Validate(); err != nil {
					return err
				}
				return w.st.Triage.CanAnswer(req.NodeID)
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
			if err := req.Validate(); err != nil {
				return err
			}
			return w.st.Triage.CanClear(req.NodeID)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateClear, err)
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, UpdateMaintain,
		func(ctx workflow.Context, req MaintainRequest) (UpdateResult, error) {
			if req.End {
				return w.operatorDecision(ctx, triage.Maintain{NodeID: req.NodeID}), nil
			}
			if w.does().MemberCheck && w.nonMembers(ctx, []string{req.NodeID})[req.NodeID] {
				return UpdateResult{}, temporal.NewApplicationError("node_id: no node "+req.NodeID+" in the cluster", ErrTypeNotMember)
			}
			p := w.newPause(ctx, req.Requester, req.Reason, req.ForSeconds, req.Indefinite)
			return w.operatorDecision(ctx, triage.Maintain{NodeID: req.NodeID, Pause: p}), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(req MaintainRequest) error {
			if err := req.Validate(); err != nil || req.End {
				return err
			}
			return w.st.Triage.CanMaintain(req.NodeID)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateMaintain, err)
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
