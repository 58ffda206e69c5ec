package bridge

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/healthclient"
)

// TemporalSignaller signals the ClusterHealth workflow of a cluster through a
// Temporal client, as healthclient does for every caller: one place knows the
// signal's name and turns Temporal's NotFound into
// healthclient.ErrNotRegistered.
type TemporalSignaller struct {
	Client client.Client
}

// Signal sends the event's signal to the cluster's running workflow with
// healthclient's Recover, or NodeBack for a node that is back. An error wraps
// healthclient.ErrNotRegistered when the workflow does not exist or has ended.
func (s TemporalSignaller) Signal(ctx context.Context, ev Event) error {
	if ev.Back {
		return healthclient.New(s.Client).NodeBack(ctx, ev.ClusterID, ev.Signal)
	}
	return healthclient.New(s.Client).Recover(ctx, ev.ClusterID, ev.Signal)
}
