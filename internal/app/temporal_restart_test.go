package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// temporalOutage is how long the Temporal server stays down in the
// TestTemporalRestart tests, from the start of its stop to the start of its
// restart.
const temporalOutage = 10 * time.Second

// TestTemporalRestartDuringRound stops the file-backed Temporal server while
// a round's sweep runs (a node's poll URL is held, then answers during the
// outage, so that the sweep ends while the server is down) and starts it
// again on the same address and database. The round in flight is completed
// or counted as failed, never lost; the rounds the outage skipped are counted
// as missed; rounds go on; /readyz names temporal while it is down.
//
// The SDK gives up reporting an activity's result after about 10 s without
// the server, so with this outage the sweep's result is usually lost: the
// server times the attempt out (the sweep's heartbeat timeout, 30 s) and the
// sweep runs again, and that round is then completed.
func TestTemporalRestartDuringRound(t *testing.T) {
	ctx := context.Background()
	srv := startRestartableTemporal(t)
	cfg := testConfig(t, srv.opts.Address)
	cfg.Metrics.Addr = loopbackAddr(t)
	m := runApp(t, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)), app.RoleHealth, app.RoleEngine)
	ready := watchReadyz(t, cfg.Metrics.Addr)
	ready.waitFor(t, time.Now(), 30*time.Second, "200", func(s readyzSample) bool { return s.code == 200 })

	const cid = "c-temporal-round"
	f := newHeldFleet(t)
	if err := seedCluster(ctx, m.Store, cid, f.webhook.URL, []string{"n-1", "n-slow"}); err != nil {
		t.Fatal(err)
	}
	c := dialTemporal(t, srv.opts.Address)
	reg := pollURLRegistration(cid, f.nodes.URL, 60)
	// A poll may take 10 s (a tenth of the retry interval) before it times
	// out: the held poll answers well before.
	reg.DetectionModes[0].PollURLRetryInterval = 100
	startCluster(t, c, reg)
	dumpOnFailure(t, c, cid)
	started := time.Now()
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, cid).Counters.Rounds >= 2 }, 60*time.Second, waitTick,
		"waiting for two rounds")
	t.Logf("two rounds %s after the workflow started", time.Since(started).Round(100*time.Millisecond))
	before, beforeAt := settledStatus(t, c, cid, 30*time.Second)

	f.arm("n-slow")
	f.slow.waitEntered(t, 10*time.Second, "the next sweep's poll of n-slow")
	if !sweepPending(t, c, cid) {
		// A short sweep runs as a local activity, which answers no query
		// while it runs and is given up after workflows.LocalSweepTimeout;
		// the round then sweeps again as an activity: hold that poll too.
		f.arm("n-slow")
		require.Eventually(t, func() bool { return sweepPending(t, c, cid) && !f.isArmed("n-slow") },
			workflows.LocalSweepTimeout+20*time.Second, waitTick, "waiting for the sweep to go on as an activity, held")
	}
	inFlight := clusterStatus(ctx, c, cid)
	if !inFlight.RoundRunning {
		t.Fatalf("with the sweep held: got no round running, want one: %+v", inFlight.Counters)
	}
	stopping := time.Now()
	srv.stop(t)
	stopped := time.Now()
	down := ready.waitFor(t, stopping, 10*time.Second, "503 naming temporal", func(s readyzSample) bool {
		return s.code == 503 && strings.Contains(s.body, "temporal:")
	})
	f.slow.release() // the sweep ends while the server is down
	time.Sleep(time.Until(stopping.Add(temporalOutage)))
	srv.start(t)
	restarted := time.Now()
	up := ready.waitFor(t, restarted, 15*time.Second, "200", func(s readyzSample) bool { return s.code == 200 })

	// The round that was running ends, one way or the other.
	var ended workflows.Status
	require.Eventually(t, func() bool {
		ended = clusterStatus(ctx, c, cid)
		return ended.Counters.Rounds > inFlight.Counters.Rounds
	}, 60*time.Second, waitTick, "waiting for the round in flight to end")
	endedAt := time.Now()
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, cid).Counters.Rounds >= ended.Counters.Rounds+2 }, 30*time.Second,
		waitTick, "waiting for two more rounds")
	after, afterAt := settledStatus(t, c, cid, 30*time.Second)
	grid := checkGrid(t, reg.RoundInterval(), before, after, beforeAt, afterAt)
	acts, err := m.Store.ListActions(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	activities := activitiesOf(t, c, cid)
	slowest := ready.check(t, stopping)
	outcome := "completed"
	if ended.Counters.RoundErrors > inFlight.Counters.RoundErrors {
		outcome = "failed: " + ended.LastRoundError
	}
	t.Logf("tally: Temporal down %s (stop took %s); the round in flight %s, %s after the restart; actions %d, duplicates %d; "+
		"webhook calls %d; rounds before %d, after %d: %s; activities: %s; /readyz 503 %s after the stop began, 200 %s after the restart, slowest %s",
		restarted.Sub(stopping).Round(100*time.Millisecond), stopped.Sub(stopping).Round(100*time.Millisecond), outcome,
		endedAt.Sub(restarted).Round(100*time.Millisecond), len(acts), max(len(acts)-1, 0), len(f.webhookCalls()),
		before.Counters.Rounds, after.Counters.Rounds, grid, activities,
		down.at.Sub(stopping).Round(100*time.Millisecond), up.at.Sub(restarted).Round(100*time.Millisecond), slowest.Round(time.Millisecond))
	t.Logf("/readyz: %s", strings.Join(ready.transitions(stopping), "; "))

	if len(acts) != 0 || len(f.webhookCalls()) != 0 {
		t.Errorf("every node healthy: got %d actions and %d webhook calls, want none", len(acts), len(f.webhookCalls()))
	}
	if after.Counters.Unhealthy != 0 || len(after.InFlight) != 0 {
		t.Errorf("every node healthy: got counters %+v and in flight %+v, want no unhealthy verdict and nothing in flight",
			after.Counters, after.InFlight)
	}
	if grid.missed == 0 {
		t.Errorf("rounds: %s; want the rounds the outage skipped counted as missed", grid)
	}
	if after.LastRoundError != "" {
		t.Errorf("last round error after the restart: got %q, want none", after.LastRoundError)
	}
}

// TestTemporalRestartDuringWait stops the file-backed Temporal server while
// the workflow waits for a recovery's action (the webhook call held open),
// lets the call return and the action finish while the server is down, and
// starts the server again on the same address and database. The wait
// resumes and sees the action SUCCEEDED: one action, one webhook call, one
// recovery, and the rounds go on, the skipped ones counted.
func TestTemporalRestartDuringWait(t *testing.T) {
	ctx := context.Background()
	srv := startRestartableTemporal(t)
	cfg := testConfig(t, srv.opts.Address)
	cfg.Metrics.Addr = loopbackAddr(t)
	m := runApp(t, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)), app.RoleHealth, app.RoleEngine)
	ready := watchReadyz(t, cfg.Metrics.Addr)
	ready.waitFor(t, time.Now(), 30*time.Second, "200", func(s readyzSample) bool { return s.code == 200 })

	const cid = "c-temporal-wait"
	f := newHeldFleet(t, "n-2")
	if err := seedCluster(ctx, m.Store, cid, f.webhook.URL, []string{"n-1", "n-2", "n-3"}); err != nil {
		t.Fatal(err)
	}
	c := dialTemporal(t, srv.opts.Address)
	reg := pollURLRegistration(cid, f.nodes.URL, 60)
	startCluster(t, c, reg)
	dumpOnFailure(t, c, cid)
	status := func() workflows.Status { return clusterStatus(ctx, c, cid) }

	f.hook.waitEntered(t, 60*time.Second, "the recovery webhook call")
	require.Eventually(t, func() bool { return waitingFor(ctx, c, cid) }, 30*time.Second, waitTick,
		"waiting for the workflow to wait for the action")
	before, beforeAt := settledStatus(t, c, cid, 30*time.Second)
	if len(before.InFlight) != 1 || before.InFlight[0].ActionID == "" {
		t.Fatalf("before the restart: got in flight %+v, want one recovery with its action", before.InFlight)
	}
	actionID := before.InFlight[0].ActionID

	stopping := time.Now()
	srv.stop(t)
	stopped := time.Now()
	down := ready.waitFor(t, stopping, 10*time.Second, "503 naming temporal", func(s readyzSample) bool {
		return s.code == 503 && strings.Contains(s.body, "temporal:")
	})
	// The call returns and the engine finishes the action while the server
	// is down: the wait's answer has to wait for the server.
	f.hook.release()
	require.Eventually(t, func() bool {
		a, err := m.Store.GetAction(ctx, actionID)
		return err == nil && a.Status.Terminal()
	}, temporalOutage, waitTick, "waiting for the engine to finish the action while Temporal is down")
	time.Sleep(time.Until(stopping.Add(temporalOutage)))
	srv.start(t)
	restarted := time.Now()
	up := ready.waitFor(t, restarted, 15*time.Second, "200", func(s readyzSample) bool { return s.code == 200 })

	require.Eventually(t, func() bool { return status().Counters.RecoveriesSucceeded == 1 }, 60*time.Second, waitTick,
		"waiting for the wait to resume and see the action finished")
	finishedAt := time.Now()
	s := status()
	require.Eventually(t, func() bool { return status().Counters.Rounds >= s.Counters.Rounds+2 }, 30*time.Second, waitTick,
		"waiting for two more rounds")
	after, afterAt := settledStatus(t, c, cid, 30*time.Second)
	grid := checkGrid(t, reg.RoundInterval(), before, after, beforeAt, afterAt)
	acts, err := m.Store.ListActions(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	calls := f.webhookCalls()
	activities := activitiesOf(t, c, cid)
	slowest := ready.check(t, stopping)
	t.Logf("tally: Temporal down %s (stop took %s); recovery finished %s after the restart; actions %d, duplicates %d; "+
		"webhook calls %d; rounds before %d, after %d: %s; activities: %s; /readyz 503 %s after the stop began, 200 %s after the restart, slowest %s",
		restarted.Sub(stopping).Round(100*time.Millisecond), stopped.Sub(stopping).Round(100*time.Millisecond),
		finishedAt.Sub(restarted).Round(100*time.Millisecond), len(acts), max(len(acts)-1, 0), len(calls),
		before.Counters.Rounds, after.Counters.Rounds, grid, activities,
		down.at.Sub(stopping).Round(100*time.Millisecond), up.at.Sub(restarted).Round(100*time.Millisecond), slowest.Round(time.Millisecond))
	t.Logf("/readyz: %s", strings.Join(ready.transitions(stopping), "; "))

	if len(acts) != 1 {
		t.Fatalf("actions: got %d, want 1: %+v", len(acts), acts)
	}
	a := acts[0]
	if a.ID != actionID || a.Status != health.ActionSucceeded || a.NodeID != "id-n-2" || a.Attempts != 1 {
		t.Errorf("action: got %s %s for %s after %d claims, want %s SUCCEEDED for id-n-2 on its first claim",
			a.ID, a.Status, a.NodeID, a.Attempts, actionID)
	}
	if len(calls) != 1 || calls[0] != a.ID {
		t.Errorf("webhook calls: got %v, want one, for action %s", calls, a.ID)
	}
	if len(after.InFlight) != 0 || len(after.Recent) != 1 || after.Recent[0].ActionID != a.ID ||
		after.Recent[0].Outcome != health.OutcomeSucceeded {
		t.Errorf("after the restart: got in flight %+v, recent %+v; want none in flight and action %s SUCCEEDED", after.InFlight, after.Recent, a.ID)
	}
	if c := after.Counters; c.RecoveriesRequested != 1 || c.RecoveriesFailed != 0 || c.RecoveriesTimedOut != 0 {
		t.Errorf("recovery counters: got %+v, want one requested and succeeded, none failed or overdue", c)
	}
	if activities.scheduled["RecoverNode"] != 1 || activities.scheduled["WaitForAction"] != 1 {
		t.Errorf("activities: %s; want one recovery request and one wait", activities)
	}
	if grid.missed == 0 {
		t.Errorf("rounds: %s; want the rounds the outage skipped counted as missed", grid)
	}
}

// waitingFor reports whether the cluster's workflow has a WaitForAction
// activity started on a worker.
func waitingFor(ctx context.Context, c client.Client, clusterID string) bool {
	d, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(clusterID), "")
	if err != nil {
		return false
	}
	for _, p := range d.GetPendingActivities() {
		if p.GetActivityType().GetName() == "WaitForAction" && p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
			return true
		}
	}
	return false
}
