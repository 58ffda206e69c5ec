package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/testkit/pgtest"
	"github.com/clusterhealth/healthd/workflows"
)

// pgOutage is how long Postgres refuses connections in
// TestPostgresOutageDuringRecovery.
const pgOutage = 30 * time.Second

// TestPostgresOutageDuringRecovery stops a private Postgres for pgOutage
// while a recovery is in flight: the action is RUNNING, its webhook call is
// held open and the workflow waits for the action. The engine's call returns
// during the outage. Meanwhile /readyz of the process running the workers
// (health, engine and bridge, as `worker all` does) answers 503 naming
// postgres within a few seconds, and always within its bound, while a
// bridge-only process, which does not use Postgres, does not name it. Once
// Postgres is back: /readyz is 200 again, the activities that failed are
// retried, the recovery finishes with its one action and one webhook call,
// and the rounds go on, every round of the outage run, failed or counted as
// missed.
func TestPostgresOutageDuringRecovery(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	temporalSrv := startTemporal(t)
	cfg := testConfig(t, temporalSrv.Address)
	cfg.Database.URL = pg.DSN
	cfg.Metrics.Addr = loopbackAddr(t)
	withTestBridge(t, &cfg)
	logger := zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel))
	m := runApp(t, cfg, logger.Named("workers"), app.RoleHealth, app.RoleEngine, app.RoleBridge)
	bridgeCfg := cfg
	bridgeCfg.Metrics.Addr = loopbackAddr(t)
	runApp(t, bridgeCfg, logger.Named("bridge"), app.RoleBridge)
	workersReady, bridgeReady := watchReadyz(t, cfg.Metrics.Addr), watchReadyz(t, bridgeCfg.Metrics.Addr)
	workersReady.waitFor(t, time.Now(), 30*time.Second, "200", func(s readyzSample) bool { return s.code == 200 })
	bridgeReady.waitFor(t, time.Now(), 30*time.Second, "200", func(s readyzSample) bool { return s.code == 200 })

	const cid = "c-pg-outage"
	f := newHeldFleet(t, "n-2")
	if err := seedCluster(ctx, m.Store, cid, f.webhook.URL, []string{"n-1", "n-2", "n-3"}); err != nil {
		t.Fatal(err)
	}
	c := dialTemporal(t, temporalSrv.Address)
	reg := pollURLRegistration(cid, f.nodes.URL, 60)
	startCluster(t, c, reg)
	dumpOnFailure(t, c, cid)
	status := func() workflows.Status { return clusterStatus(ctx, c, cid) }

	f.hook.waitEntered(t, 60*time.Second, "the recovery webhook call")
	acts, err := m.Store.ListActions(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].Status != health.ActionRunning {
		t.Fatalf("before the outage: got actions %+v, want one RUNNING", acts)
	}
	before, beforeAt := settledStatus(t, c, cid, 30*time.Second)
	if len(before.InFlight) != 1 || before.InFlight[0].ActionID != acts[0].ID {
		t.Fatalf("before the outage: got in flight %+v, want the recovery of action %s", before.InFlight, acts[0].ID)
	}

	pg.Stop(t)
	stopped := time.Now()
	down := workersReady.waitFor(t, stopped, 10*time.Second, "503 naming postgres", func(s readyzSample) bool {
		return s.code == 503 && strings.Contains(s.body, "postgres:")
	})
	t.Logf("/readyz of the workers answered %s %s after Postgres stopped", down, down.at.Sub(stopped).Round(time.Millisecond))
	if strings.Contains(down.body, "temporal:") || strings.Contains(down.body, "rabbitmq:") {
		t.Errorf("/readyz with only Postgres down: got %q, want only postgres named", down.body)
	}

	// The engine's call returns while Postgres is down, well within the
	// default webhook timeout (30 s): the engine must keep what it learnt
	// and finish the action once it can, not call again.
	time.Sleep(time.Until(stopped.Add(pgOutage / 2)))
	f.hook.release()
	mid := status()
	time.Sleep(time.Until(stopped.Add(pgOutage)))
	if n := len(f.webhookCalls()); n != 1 {
		t.Errorf("webhook calls during the outage: got %d, want 1", n)
	}
	pg.Start(t)
	restarted := time.Now()
	up := workersReady.waitFor(t, restarted, 15*time.Second, "200", func(s readyzSample) bool { return s.code == 200 })
	t.Logf("/readyz of the workers answered 200 %s after Postgres came back", up.at.Sub(restarted).Round(time.Millisecond))

	require.Eventually(t, func() bool { return status().Counters.RecoveriesSucceeded == 1 }, 45*time.Second, waitTick,
		"waiting for the recovery in flight to finish")
	finished := time.Now()
	s := status()
	require.Eventually(t, func() bool { return status().Counters.Rounds >= s.Counters.Rounds+2 }, 30*time.Second, waitTick,
		"waiting for two more rounds")
	after, afterAt := settledStatus(t, c, cid, 30*time.Second)
	grid := checkGrid(t, reg.RoundInterval(), before, after, beforeAt, afterAt)

	acts, err = m.Store.ListActions(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	calls := f.webhookCalls()
	activities := activitiesOf(t, c, cid)
	slowest := max(workersReady.check(t, stopped), bridgeReady.check(t, stopped))
	t.Logf("tally: Postgres down %s; actions %d, duplicates %d; webhook calls %d; rounds before %d, after %d: %s; "+
		"round errors during the outage %d; recovery finished %s after the restart; activities: %s; slowest /readyz %s",
		restarted.Sub(stopped).Round(100*time.Millisecond), len(acts), max(len(acts)-1, 0), len(calls),
		before.Counters.Rounds, after.Counters.Rounds, grid, mid.Counters.RoundErrors-before.Counters.RoundErrors,
		finished.Sub(restarted).Round(100*time.Millisecond), activities, slowest.Round(time.Millisecond))
	t.Logf("/readyz of the workers: %s", strings.Join(workersReady.transitions(stopped), "; "))
	t.Logf("/readyz of the bridge: %s", strings.Join(bridgeReady.transitions(stopped), "; "))

	if len(acts) != 1 {
		t.Fatalf("actions: got %d, want 1: %+v", len(acts), acts)
	}
	a := acts[0]
	if a.Status != health.ActionSucceeded || a.NodeID != "id-n-2" || a.Attempts != 1 {
		t.Errorf("action: got %s for %s after %d claims, want SUCCEEDED for id-n-2 on its first claim", a.Status, a.NodeID, a.Attempts)
	}
	if len(calls) != 1 || calls[0] != a.ID {
		t.Errorf("webhook calls: got %v, want one, for action %s", calls, a.ID)
	}
	if len(after.InFlight) != 0 || len(after.Recent) != 1 || after.Recent[0].ActionID != a.ID ||
		after.Recent[0].Outcome != health.OutcomeSucceeded {
		t.Errorf("after the outage: got in flight %+v, recent %+v; want none in flight and action %s SUCCEEDED", after.InFlight, after.Recent, a.ID)
	}
	if c := after.Counters; c.RecoveriesRequested != 1 || c.RecoveriesFailed != 0 || c.RecoveriesTimedOut != 0 {
		t.Errorf("recovery counters: got %+v, want one requested, succeeded, none failed or overdue", c)
	}
	if mid.Counters.RoundErrors <= before.Counters.RoundErrors {
		t.Errorf("round errors in the outage: got %d before and %d in it, want the rounds that could not run counted",
			before.Counters.RoundErrors, mid.Counters.RoundErrors)
	}
	if after.LastRoundError != "" {
		t.Errorf("last round error after the outage: got %q, want none", after.LastRoundError)
	}
	if activities.retries["WaitForAction"] == 0 {
		t.Errorf("activities: %s; want the wait for the action retried through the outage", activities)
	}
	// A bridge alone reads no Postgres: the outage does not make it
	// unready (a loaded machine may delay its other checks now and then).
	for _, s := range bridgeReady.since(stopped) {
		if strings.Contains(s.body, "postgres") {
			t.Errorf("/readyz of the bridge at +%s: %s, want Postgres not named", s.at.Sub(stopped).Round(time.Millisecond), s)
			break
		}
	}
	if n, err := m.Store.GetNode(ctx, "id-n-2"); err != nil || n.Status != health.NodeActive {
		t.Errorf("recovered node: got %s (err %v), want ACTIVE", n.Status, err)
	}
}
