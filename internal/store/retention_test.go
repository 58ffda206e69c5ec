package store_test

import (
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// Retention deletes the timeline entries and the finished actions older
// than its bound, in batches, and the check records of nodes that are gone;
// it leaves everything recent, and every active action however old.
func TestPrune(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	seedNode(t, s, health.Node{ID: "n1", ClusterID: "c1"})
	seedNode(t, s, health.Node{ID: "n2", ClusterID: "c1"})
	old, recent := time.Now().Add(-100*24*time.Hour), time.Now().Add(-time.Hour)
	var events []health.HealthEvent
	for i := range 2500 {
		events = append(events, health.HealthEvent{ClusterID: "c1", NodeID: "n1", At: old.Add(time.Duration(i) * time.Second), To: health.Unhealthy})
	}
	events = append(events, health.HealthEvent{ClusterID: "c1", NodeID: "n1", At: recent, To: health.Healthy})
	if err := s.AddHealthEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	mk := func(key string) string {
		a, _, err := s.CreateRecoverAction(ctx, key, "c1", "n1", health.RecoverParams{Operation: health.OpReboot})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	// One active recovery per node: each is finished before the next.
	var oldDone, newDone string
	for _, p := range []*string{&oldDone, &newDone} {
		*p = mk(time.Now().String())
		if err := s.FinishAction(ctx, *p, health.ActionSucceeded, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	oldReady := mk("old-ready")
	if _, err := s.Pool().Exec(ctx, `UPDATE actions SET created_at = $1::timestamptz, finished_at = CASE WHEN finished_at IS NULL THEN NULL ELSE $1::timestamptz END
		WHERE id IN ($2::uuid, $3::uuid)`, old, oldDone, oldReady); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.RecordSweep(ctx, "c1", health.SweepSummary{}, []health.CheckRecord{
		{NodeID: "n1", Verdict: health.Unhealthy, Since: now, CheckedAt: now},
		{NodeID: "n2", Verdict: health.Unhealthy, Since: now, CheckedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNode(ctx, "c1", "n2"); err != nil {
		t.Fatal(err)
	}

	p, err := s.Prune(ctx, time.Now().Add(-90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p.HealthEvents != 2500 || p.Actions != 1 || p.NodeChecks != 1 || p.Skipped {
		t.Errorf("pruned: got %+v, want 2500 events, 1 action, 1 orphaned check", p)
	}
	var left int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM health_events`).Scan(&left); err != nil || left != 1 {
		t.Errorf("events left: %d (%v), want the recent one", left, err)
	}
	for id, want := range map[string]bool{oldDone: false, oldReady: true, newDone: true} {
		_, err := s.GetAction(ctx, id)
		if kept := err == nil; kept != want {
			t.Errorf("action %s: kept %v, want %v", id, kept, want)
		}
	}
	recs, err := s.NodeExceptions(ctx, "c1")
	if _, ok := recs["n1"]; err != nil || len(recs) != 1 || !ok {
		t.Errorf("check records: got %v (%v), want n1's only", recs, err)
	}
	if p, err := s.Prune(ctx, time.Now().Add(-90*24*time.Hour)); err != nil || p.HealthEvents+p.Actions+p.NodeChecks != 0 {
		t.Errorf("prune again: got %+v (%v), want nothing", p, err)
	}
}
