package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
)

// sweepOptions: the sweep may take a round interval, at least 30 s and at most
// 10 min (bounded to keep a lost worker from stalling a cluster), and is
// retried a few times quickly;
// a sweep that cannot run leaves verdicts as they were. The sweep records a
// heartbeat every activities.SweepHeartbeatInterval (5 s) from a ticker,
// whatever its probes are doing, however large the cluster; the heartbeat
// timeout of six intervals lets a few beats be late (a busy worker, a slow
// database call) and still retries the sweep of a worker that died within
// half a minute instead of after the whole StartToClose timeout.
func sweepOptions(ctx workflow.Context, reg health.Registration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: sweepTimeout(reg),
		HeartbeatTimeout:    6 * activities.SweepHeartbeatInterval,
		Summary:             "check cluster " + reg.ClusterID,
		RetryPolicy:         sweepRetry(),
	})
}

// LocalSweepMax is the longest a cluster's last sweep may have taken for its
// next one to run as a local activity: well within a workflow task's 10 s,
// so that a local sweep is one marker in the history and needs no workflow
// task of its own. A longer sweep runs as an activity, which heartbeats and
// shows in the UI while it runs.
const LocalSweepMax = 3 * time.Second

// LocalSweepTimeout bounds a sweep run as a local activity: one attempt,
// within the workflow task, which answers no query while it runs. A local
// sweep that fails or runs out of it is given up, and the round sweeps again
// as an activity.
const LocalSweepTimeout = 2 * LocalSweepMax

// localSweepOptions are the options of a sweep run as a local activity. A
// worker that dies during it leaves its workflow task to time out; the next
// worker runs the sweep again (a sweep changes nothing but the cluster's
// check records, which it replaces).
func localSweepOptions(ctx workflow.Context, reg health.Registration) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: LocalSweepTimeout,
		Summary:             "check cluster " + reg.ClusterID,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
}

func sweepTimeout(reg health.Registration) time.Duration {
	return min(max(reg.RoundInterval(), 30*time.Second), 10*time.Minute)
}

func sweepRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        10 * time.Second,
		MaximumAttempts:        3,
		NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
	}
}

// confirmOptions turns Senlin's URL retry into a RetryPolicy: attempts spaced
// poll_url_retry_interval apart, poll_url_retry_limit in total counting the
// sweep's attempt.
func confirmOptions(ctx workflow.Context, m health.DetectionMode, node string) workflow.Context {
	every := max(m.RetryInterval(), 100*time.Millisecond)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: m.RequestTimeout() + 10*time.Second,
		Summary:             "confirm poll URL of " + node,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        every,
			BackoffCoefficient:     1,
			MaximumInterval:        every,
			MaximumAttempts:        int32(max(m.Attempts()-1, 1)),
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
		},
	})
}

// recoverOptions: asking for a recovery must not be lost to a brief database
// outage, but a node that is not a member is final.
func recoverOptions(ctx workflow.Context, summary string) workflow.Context {
	return quickOptions(ctx, summary, activities.ErrTypeNodeNotFound)
}

// waitOptions bounds the wait by its deadline; the heartbeat timeout lets
// another worker take the wait over quickly when one dies.
func waitOptions(ctx workflow.Context, left time.Duration, summary string) workflow.Context {
	left = max(left, 0)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: left + 2*time.Minute,
		StartToCloseTimeout:    left + time.Minute,
		HeartbeatTimeout:       10 * time.Second,
		Summary:                summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        15 * time.Second,
			MaximumAttempts:        50,
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput, activities.ErrTypeActionNotFound},
		},
	})
}

// recordOptions: the timeline outlives Temporal's history, so its entries are
// retried through a database outage of up to an hour rather than dropped
// after a few minutes.
func recordOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: time.Hour,
		Summary:                summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        0, // bounded by ScheduleToCloseTimeout
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
		},
	})
}

// quickOptions is for short activities on the database, retried through a
// brief outage; bad input, and the error types given, are final.
func quickOptions(ctx workflow.Context, summary string, final ...string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        10,
			NonRetryableErrorTypes: append([]string{activities.ErrTypeBadInput}, final...),
		},
	})
}
