package bridge

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
)

// TemporalSignaller signals the ClusterHealth workflow of a cluster through a
// Temporal client, as healthclient does for every caller: one place knows the
// signal's name and turns Temporal's NotFound into
// healthclient.ErrNotRegistered.
type TemporalSignaller struct {
	Client client.Client
}

// Signal sends the recover signal to the cluster's running workflow with
// healthclient's Recover. An error wraps healthclient.ErrNotRegistered when the
// workflow does not exist or has ended.
func (s TemporalSignaller) Signal(ctx context.Context, clusterID string, sig health.RecoverSignal) error {
	return healthclient.New(s.Client).Recover(ctx, clusterID, sig)
}
