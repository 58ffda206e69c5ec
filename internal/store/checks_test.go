package store_test

import (
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// A sweep's records replace the cluster's previous ones: a node left out is
// healthy again (its record goes), and every node's view says what its last
// check found.
func TestRecordSweepKeepsOnlyExceptions(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	if err := s.UpsertCluster(ctx, health.Cluster{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if err := s.UpsertNode(ctx, health.Node{ID: id, ClusterID: "c1", Name: "web-" + id, Status: health.NodeActive}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	first := []health.CheckRecord{
		{NodeID: "n2", Verdict: health.Unhealthy, Reason: "503", Since: t0, CheckedAt: t0},
		{NodeID: "n3", Verdict: health.Unknown, Reason: "stale", Since: t0, CheckedAt: t0},
	}
	if err := s.RecordSweep(ctx, "c1", health.SweepSummary{At: t0, Nodes: 3, Healthy: 1, Unhealthy: 1, Unknown: 1}, first); err != nil {
		t.Fatal(err)
	}
	// Another cluster's records are its own.
	if err := s.RecordSweep(ctx, "c2", health.SweepSummary{At: t0, Nodes: 1, Unhealthy: 1},
		[]health.CheckRecord{{NodeID: "n9", Verdict: health.Unhealthy, Since: t0, CheckedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	exc, err := s.NodeExceptions(ctx, "c1")
	if err != nil || len(exc) != 2 || exc["n2"].Verdict != health.Unhealthy || exc["n3"].Reason != "stale" {
		t.Fatalf("exceptions: got %+v (err %v), want n2 unhealthy and n3 unknown", exc, err)
	}
	t1 := t0.Add(time.Minute)
	second := []health.CheckRecord{{NodeID: "n2", Verdict: health.Unhealthy, Reason: "503 again", Since: t0, CheckedAt: t1}}
	if err := s.RecordSweep(ctx, "c1", health.SweepSummary{At: t1, Nodes: 3, Healthy: 2, Unhealthy: 1}, second); err != nil {
		t.Fatal(err)
	}
	views, sum, err := s.NodeViews(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !sum.At.Equal(t1) || sum.Nodes != 3 || sum.Healthy != 2 || sum.Unhealthy != 1 {
		t.Errorf("summary: got %+v", sum)
	}
	want := map[string]health.Verdict{"n1": health.Healthy, "n2": health.Unhealthy, "n3": health.Healthy}
	for _, v := range views {
		if v.Verdict != want[v.ID] {
			t.Errorf("%s: got %s, want %s", v.ID, v.Verdict, want[v.ID])
		}
		if v.ID == "n2" && (!v.Since.Equal(t0) || !v.CheckedAt.Equal(t1) || v.Reason != "503 again") {
			t.Errorf("n2: got %+v, want unhealthy since %s, checked %s", v, t0, t1)
		}
	}
	if exc, _ := s.NodeExceptions(ctx, "c2"); len(exc) != 1 {
		t.Errorf("c2's exceptions: got %d, want 1", len(exc))
	}
	if err := s.RecordSweep(ctx, "c1", health.SweepSummary{At: t1.Add(time.Minute), Nodes: 3, Healthy: 3}, nil); err != nil {
		t.Fatal(err)
	}
	if exc, _ := s.NodeExceptions(ctx, "c1"); len(exc) != 0 {
		t.Errorf("after a healthy sweep: got %+v, want no exceptions", exc)
	}
}
