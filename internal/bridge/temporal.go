package bridge

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// TemporalSignaller signals the ClusterHealth workflow of a cluster through a
// Temporal client.
type TemporalSignaller struct {
	Client client.Client
}

// Signal sends the recover signal to the cluster's running workflow. Temporal
// answers NotFound when the workflow does not exist or has ended, which the
// error reports by wrapping ErrNotRegistered.
func (s TemporalSignaller) Signal(ctx context.Context, clusterID string, sig health.RecoverSignal) error {
	id := workflows.WorkflowID(clusterID)
	err := s.Client.SignalWorkflow(ctx, id, "", workflows.SignalRecover, sig)
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return fmt.Errorf("signal %s to workflow %s: %w: %w", workflows.SignalRecover, id, ErrNotRegistered, err)
	}
	return fmt.Errorf("signal %s to workflow %s: %w", workflows.SignalRecover, id, err)
}
