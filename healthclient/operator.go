package healthclient

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/workflows"
)

// Approve lets a recovery waiting for approval go ahead. The workflow refuses
// it, with the field at fault named, when no recovery of the node waits.
func (c *Client) Approve(ctx context.Context, clusterID string, r workflows.NodeRequest) (workflows.UpdateResult, error) {
	return c.update(ctx, "approve recovery in", clusterID, workflows.UpdateApprove, r, checkNodeRequest(r))
}

// Deny refuses a recovery waiting for approval; the node then needs a human.
func (c *Client) Deny(ctx context.Context, clusterID string, r workflows.NodeRequest) (workflows.UpdateResult, error) {
	return c.update(ctx, "deny recovery in", clusterID, workflows.UpdateDeny, r, checkNodeRequest(r))
}

// Clear lets automatic recovery of a node that needs a human (or is
// quarantined for flapping) resume.
func (c *Client) Clear(ctx context.Context, clusterID string, r workflows.NodeRequest) (workflows.UpdateResult, error) {
	return c.update(ctx, "clear node of", clusterID, workflows.UpdateClear, r, checkNodeRequest(r))
}

// Maintain starts (or, with End, ends) a node's maintenance: while it lasts,
// the node's failures recover nothing.
func (c *Client) Maintain(ctx context.Context, clusterID string, r workflows.MaintainRequest) (workflows.UpdateResult, error) {
	return c.update(ctx, "maintain node of", clusterID, workflows.UpdateMaintain, r, checkMaintain(r))
}

// update sends one update to the cluster's running workflow and waits for
// its answer, unless the cluster ID or the update's own check (checkErr)
// refuses it.
func (c *Client) update(ctx context.Context, op, clusterID, name string, arg any, checkErr error) (workflows.UpdateResult, error) {
	if err := checkClusterID(clusterID); err != nil {
		return workflows.UpdateResult{}, fmt.Errorf("%s cluster: %w", op, err)
	}
	if checkErr != nil {
		return workflows.UpdateResult{}, fmt.Errorf("%s cluster %s: %w", op, clusterID, checkErr)
	}
	h, err := c.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(clusterID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.UpdateResult{}, fmt.Errorf("%s cluster %s: %w", op, clusterID, notRegistered(err))
	}
	var res workflows.UpdateResult
	if err := h.Get(ctx, &res); err != nil {
		return workflows.UpdateResult{}, fmt.Errorf("%s cluster %s: %w", op, clusterID, notRegistered(err))
	}
	return res, nil
}
