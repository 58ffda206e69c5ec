package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// A recovery whose engine dies holding its action outlives its wait bound.
// It is then overdue, not forgotten: no second action is created while the
// node keeps failing, and when another engine takes the abandoned claim over
// and finishes it, the workflow records the real outcome (Senlin F-19).
func TestOverdueRecoveryIsFinishedByTheNextEngine(t *testing.T) {
	ctx := context.Background()
	temporalSrv := startTemporal(t)
	cfg := testConfig(t, temporalSrv.Address)
	m := runApp(t, cfg, zaptest.NewLogger(t), app.RoleHealth) // no engine yet

	ns := newNodes(t, "n-1", "n-2")
	ns.broken["n-2"] = true
	if err := seedCluster(ctx, m.Store, "c-overdue", ns.hook.URL, []string{"n-1", "n-2"}); err != nil {
		t.Fatal(err)
	}
	c := dialTemporal(t, temporalSrv.Address)
	reg := pollURLRegistration("c-overdue", ns.srv.URL, 60)
	reg.WaitTimeout = 2 // the wait bound, apart from the 60 s grace period
	startCluster(t, c, reg)
	status := func() workflows.Status { return clusterStatus(ctx, c, "c-overdue") }
	actions := func() []health.Action {
		acts, err := m.Store.ListActions(ctx, "c-overdue")
		if err != nil {
			t.Fatal(err)
		}
		return acts
	}

	// An executor claims the action with a 3 s lease and dies at once.
	require.Eventually(t, func() bool { return len(actions()) == 1 }, 30*time.Second, waitTick, "waiting for the recovery action")
	const lease = 3 * time.Second
	claimed, ok, err := m.Store.ClaimReadyAction(ctx, "dead/1", lease)
	if err != nil || !ok {
		t.Fatalf("claim: got ok %v err %v, want the action", ok, err)
	}
	require.Eventually(t, func() bool {
		s := status()
		return len(s.InFlight) == 1 && s.InFlight[0].Overdue
	}, 30*time.Second, waitTick, "waiting for the recovery to be overdue")
	s := status()
	if s.Counters.RecoveriesTimedOut != 1 || s.State != workflows.StateRecovering {
		t.Errorf("overdue: got timed out %d state %s, want 1 and %s", s.Counters.RecoveriesTimedOut, s.State, workflows.StateRecovering)
	}
	// The wait was not shorter than the dead executor's lease could need.
	if time.Since(claimed.UpdatedAt) < lease {
		t.Errorf("the recovery was overdue %s after the claim, before the %s lease ran out", time.Since(claimed.UpdatedAt), lease)
	}
	// Rounds go on finding n-2 failed, and ask for no second recovery.
	rounds := s.Counters.Rounds
	require.Eventually(t, func() bool { return status().Counters.Rounds >= rounds+2 }, 30*time.Second, waitTick, "waiting for two more rounds")
	if got := len(actions()); got != 1 {
		t.Fatalf("actions while overdue: got %d, want 1", got)
	}

	// Another engine takes the abandoned claim over and finishes it.
	runApp(t, cfg, zaptest.NewLogger(t), app.RoleEngine)
	require.Eventually(t, func() bool { return status().Counters.RecoveriesSucceeded == 1 }, 60*time.Second, waitTick, "waiting for the overdue recovery to end")
	s = status()
	if len(s.InFlight) != 0 || len(s.Recent) != 1 || !s.Recent[0].Overdue || s.Recent[0].Outcome != health.OutcomeSucceeded ||
		s.Recent[0].ActionID != claimed.ID {
		t.Errorf("after the takeover: got in flight %+v recent %+v, want action %s SUCCEEDED and overdue", s.InFlight, s.Recent, claimed.ID)
	}
	acts := actions()
	if len(acts) != 1 || acts[0].Status != health.ActionSucceeded || acts[0].Attempts != 2 || acts[0].AbandonedBy != "dead/1" {
		t.Errorf("actions: got %+v, want the one action SUCCEEDED on its second claim, taken from dead/1", acts)
	}
	if got := ns.webhook.Load(); got != 1 {
		t.Errorf("webhook calls: got %d, want 1", got)
	}
	recordHistory(t, c, workflows.WorkflowID("c-overdue"), "overdue_recovery")
}
