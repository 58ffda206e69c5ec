package workflows

import (
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Recover requests name nodes by ID, and whoever sends them (an operator,
// the bridge on behalf of a server's owner, who writes its metadata) can
// name any: before the decision core weighs requests, the workflow asks the
// engine contract which of their nodes are members, with the nodes its
// memory holds. Requests for others are dropped (not_a_member), and
// remembered nodes that left are forgotten, so that neither counts toward
// max_unhealthy.

// memberOptions: one quick statement, run as a local activity (a marker in
// the history, no task queue round trip); it must not stall the workflow,
// so it gives up after a few seconds and the requests are judged unchecked.
func memberOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    5 * time.Second,
		ScheduleToCloseTimeout: 20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        500 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Second,
			MaximumAttempts:        4,
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
		},
	})
}

// nonMembers returns those of ids that are not nodes of the cluster (nil
// when the check is not made: a run recorded before it, or the database
// not answering), and forgets the remembered nodes that left.
func (w *clusterHealth) nonMembers(ctx workflow.Context, ids []string) map[string]bool {
	if !w.does().MemberCheck || len(ids) == 0 {
		return nil
	}
	asked := map[string]bool{}
	for _, id := range ids {
		if id != "" {
			asked[id] = true
		}
	}
	// The requests of a window (at most burstCap) first, then as many
	// remembered nodes as the query may hold.
	query := slices.Sorted(maps.Keys(asked))
	for _, id := range slices.Sorted(maps.Keys(w.st.Triage.Nodes)) {
		if len(query) >= activities.MaxMemberQuery {
			break
		}
		if !asked[id] {
			query = append(query, id)
		}
	}
	var res activities.MemberNodesResult
	err := workflow.ExecuteLocalActivity(memberOptions(ctx), a.MemberNodes,
		activities.MemberNodesInput{ClusterID: w.reg.ClusterID, NodeIDs: query}).Get(ctx, &res)
	if err != nil {
		w.logger.Warn("cannot check that requested nodes are members; judging the requests unchecked",
			"cluster_id", w.reg.ClusterID, "nodes", len(asked), "error", err)
		return nil
	}
	member := map[string]bool{}
	for _, id := range res.Members {
		member[id] = true
	}
	out := map[string]bool{}
	var left []string
	for _, id := range query {
		switch {
		case member[id]:
		case asked[id]:
			out[id] = true
		default:
			left = append(left, id)
		}
	}
	if len(left) > 0 {
		_, events := w.decide(ctx, triage.Left{NodeIDs: left})
		w.record(ctx, events)
	}
	return out
}
