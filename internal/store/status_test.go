package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// The database stamps every write of physical_status and of the hypervisor
// columns with the time of the write, so that polling can tell a value the
// engine keeps fresh from one nobody refreshes.
func TestStatusTimesAreStampedOnWrite(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	older := old.Add(-time.Hour)

	tests := []struct {
		name string
		// seed is written with UpsertNode first; then update runs, if any.
		seed   health.Node
		update string
		// wantPhysical and wantHyperv: "now", "old", "older" or "null".
		wantPhysical, wantHyperv string
	}{
		{name: "insert without times", seed: health.Node{PhysicalStatus: "ACTIVE", HypervisorState: "up"},
			wantPhysical: "now", wantHyperv: "now"},
		{name: "insert with times", seed: health.Node{PhysicalStatus: "ACTIVE", PhysicalStatusAt: old,
			HypervisorStatus: "enabled", HypervisorAt: old}, wantPhysical: "old", wantHyperv: "old"},
		{name: "insert empty values", seed: health.Node{}, wantPhysical: "null", wantHyperv: "null"},
		{name: "rewrite of the same physical status",
			seed:   health.Node{PhysicalStatus: "ACTIVE", PhysicalStatusAt: old, HypervisorState: "up", HypervisorAt: old},
			update: `UPDATE nodes SET physical_status = 'ACTIVE' WHERE id = $1`, wantPhysical: "now", wantHyperv: "old"},
		{name: "rewrite of the same hypervisor status",
			seed:   health.Node{PhysicalStatus: "ACTIVE", PhysicalStatusAt: old, HypervisorStatus: "enabled", HypervisorAt: old},
			update: `UPDATE nodes SET hypervisor_status = 'enabled' WHERE id = $1`, wantPhysical: "old", wantHyperv: "now"},
		{name: "writer sets its own time",
			seed: health.Node{PhysicalStatus: "ACTIVE", PhysicalStatusAt: old, HypervisorState: "up", HypervisorAt: old},
			update: `UPDATE nodes SET physical_status = 'SHUTOFF', physical_status_at = '2019-12-31 23:00:00+00',
				hypervisor_state = 'down', hypervisor_at = '2019-12-31 23:00:00+00' WHERE id = $1`,
			wantPhysical: "older", wantHyperv: "older"},
		{name: "other columns leave the times alone",
			seed:         health.Node{PhysicalStatus: "ACTIVE", PhysicalStatusAt: old, HypervisorState: "up", HypervisorAt: old},
			update:       `UPDATE nodes SET status = 'ERROR', name = 'renamed', updated_at = now() WHERE id = $1`,
			wantPhysical: "old", wantHyperv: "old"},
		{name: "emptied values have no time",
			seed:         health.Node{PhysicalStatus: "ACTIVE", PhysicalStatusAt: old, HypervisorState: "up", HypervisorAt: old},
			update:       `UPDATE nodes SET physical_status = '', hypervisor_state = NULL WHERE id = $1`,
			wantPhysical: "null", wantHyperv: "null"},
		{name: "upsert again without times",
			seed:   health.Node{PhysicalStatus: "ACTIVE", PhysicalStatusAt: old, HypervisorState: "up", HypervisorAt: old},
			update: "upsert", wantPhysical: "now", wantHyperv: "now"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.seed
			n.ID, n.ClusterID, n.Name, n.PhysicalID = "n"+string(rune('a'+i)), "c1", "node", "srv"
			seedNode(t, s, n)
			before := time.Now()
			switch tt.update {
			case "":
			case "upsert":
				n.PhysicalStatusAt, n.HypervisorAt = time.Time{}, time.Time{}
				if err := s.UpsertNode(ctx, n); err != nil {
					t.Fatalf("UpsertNode: %v", err)
				}
			default:
				if _, err := s.Pool().Exec(ctx, tt.update, n.ID); err != nil {
					t.Fatalf("update: %v", err)
				}
			}
			got, err := s.GetNode(ctx, n.ID)
			if err != nil {
				t.Fatalf("GetNode: %v", err)
			}
			check := func(column string, at time.Time, want string) {
				t.Helper()
				ok := false
				switch want {
				case "now":
					ok = about(at, before)
				case "old":
					ok = at.Equal(old)
				case "older":
					ok = at.Equal(older)
				case "null":
					ok = at.IsZero()
				}
				if !ok {
					t.Errorf("%s: got %v, want %s", column, at, want)
				}
			}
			check("physical_status_at", got.PhysicalStatusAt, tt.wantPhysical)
			check("hypervisor_at", got.HypervisorAt, tt.wantHyperv)
		})
	}
}

func TestSetObservedStatus(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	seedCluster(t, s, "c2")
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []health.Node{
		{ID: "n1", ClusterID: "c1", Name: "web-1", PhysicalID: "srv-1"},
		{ID: "n2", ClusterID: "c1", Name: "web-2", PhysicalID: "srv-2"},
		{ID: "n3", ClusterID: "c1", Name: "web-3", PhysicalID: "srv-3"},
		// Same name in another cluster: never touched by c1's observations.
		{ID: "n4", ClusterID: "c2", Name: "web-1", PhysicalID: "srv-4"},
	} {
		n.PhysicalStatus, n.PhysicalStatusAt = "ACTIVE", old
		n.HypervisorState, n.HypervisorStatus, n.HypervisorAt = "up", "enabled", old
		seedNode(t, s, n)
	}
	before := time.Now()
	updated, err := s.SetObservedStatus(ctx, "c1", []health.ObservedStatus{
		{Name: "web-1", PhysicalStatus: "PAUSED", HypervisorState: "up", HypervisorStatus: "disabled"},
		{PhysicalID: "srv-2", PhysicalStatus: "ACTIVE"}, // by physical id; no hypervisor reported
		{Name: "no-such-node", PhysicalStatus: "ERROR"},
		{PhysicalStatus: "ERROR"}, // names no node
	}, time.Time{})
	if err != nil {
		t.Fatalf("SetObservedStatus: %v", err)
	}
	if updated != 2 {
		t.Errorf("updated: got %d, want 2", updated)
	}
	tests := []struct {
		id                     string
		physical, state, hvSt  string
		physicalNow, hypervNow bool
		hypervNull             bool
	}{
		{id: "n1", physical: "PAUSED", state: "up", hvSt: "disabled", physicalNow: true, hypervNow: true},
		{id: "n2", physical: "ACTIVE", physicalNow: true, hypervNull: true},
		{id: "n3", physical: "ACTIVE", state: "up", hvSt: "enabled"},
		{id: "n4", physical: "ACTIVE", state: "up", hvSt: "enabled"},
	}
	for _, tt := range tests {
		got, err := s.GetNode(ctx, tt.id)
		if err != nil {
			t.Fatalf("GetNode(%s): %v", tt.id, err)
		}
		if got.PhysicalStatus != tt.physical || got.HypervisorState != tt.state || got.HypervisorStatus != tt.hvSt {
			t.Errorf("%s: got %q %q/%q, want %q %q/%q", tt.id, got.PhysicalStatus, got.HypervisorState,
				got.HypervisorStatus, tt.physical, tt.state, tt.hvSt)
		}
		wantTime := func(column string, at time.Time, now, null bool) {
			t.Helper()
			switch {
			case now && !about(at, before):
				t.Errorf("%s %s: got %v, want about now", tt.id, column, at)
			case null && !at.IsZero():
				t.Errorf("%s %s: got %v, want none", tt.id, column, at)
			case !now && !null && !at.Equal(old):
				t.Errorf("%s %s: got %v, want it unchanged (%v)", tt.id, column, at, old)
			}
		}
		wantTime("physical_status_at", got.PhysicalStatusAt, tt.physicalNow, false)
		wantTime("hypervisor_at", got.HypervisorAt, tt.hypervNow, tt.hypervNull)
	}

	if n, err := s.SetObservedStatus(ctx, "c1", nil, time.Time{}); err != nil || n != 0 {
		t.Errorf("SetObservedStatus with no observations: got %d %v, want 0 nil", n, err)
	}
	if n, err := s.SetObservedStatus(ctx, "no-such-cluster", []health.ObservedStatus{{Name: "web-1"}}, time.Time{}); err != nil || n != 0 {
		t.Errorf("SetObservedStatus of an unknown cluster: got %d %v, want 0 nil", n, err)
	}
	if _, err := s.SetObservedStatus(ctx, "", nil, time.Time{}); err == nil {
		t.Error("SetObservedStatus with an empty cluster id: got nil, want an error")
	}
}

// TestObservationBeganBeforeARecoveryEnded: an engine that listed a
// server before its recovery ended, and writes what it saw after, writes an
// observation older than the node's last status change: judged stale, not
// unhealthy (the server was evacuated meanwhile).
func TestObservationBeganBeforeARecoveryEnded(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	seedNode(t, s, health.Node{ID: "n1", ClusterID: "c1", Name: "web-1", PhysicalID: "srv-1", Status: health.NodeActive})
	began, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !about(began, time.Now()) {
		t.Errorf("Now: got %v, want about now", began)
	}
	// The recovery ends after the engine began to look.
	if err := s.SetNodeStatus(ctx, "n1", health.NodeActive, "Recovery succeeded"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetObservedStatus(ctx, "c1", []health.ObservedStatus{
		{Name: "web-1", PhysicalStatus: "ACTIVE", HypervisorState: "down", HypervisorStatus: "enabled"},
	}, began); err != nil {
		t.Fatal(err)
	}
	n, err := s.GetNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !n.HypervisorAt.Equal(began) || !n.PhysicalStatusAt.Equal(began) {
		t.Errorf("observation times: got %v and %v, want when the engine began, %v", n.PhysicalStatusAt, n.HypervisorAt, began)
	}
	if !n.HypervisorAt.Before(n.UpdatedAt) {
		t.Fatalf("observed at %v, status changed at %v: want the observation older", n.HypervisorAt, n.UpdatedAt)
	}
	if r := health.CheckHypervisor(n, time.Now(), time.Minute); r.Verdict != health.Unknown {
		t.Errorf("HYPERVISOR_STATUS_POLLING of it: got %s (%s), want unknown", r.Verdict, r.Detail)
	}
	// The next observation, begun after the change, is judged.
	next, _ := s.Now(ctx)
	if _, err := s.SetObservedStatus(ctx, "c1", []health.ObservedStatus{
		{Name: "web-1", PhysicalStatus: "ACTIVE", HypervisorState: "up", HypervisorStatus: "enabled"},
	}, next); err != nil {
		t.Fatal(err)
	}
	n, _ = s.GetNode(ctx, "n1")
	if r := health.CheckHypervisor(n, time.Now(), time.Minute); r.Verdict != health.Healthy {
		t.Errorf("the next observation: got %s (%s), want healthy", r.Verdict, r.Detail)
	}
}

func TestListStatusClusters(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	for _, c := range []health.Cluster{
		{ID: "c2", StatusURL: "http://engine/c2/status"},
		{ID: "c1", StatusURL: "http://engine/c1/status"},
		{ID: "c3"},
	} {
		if err := s.UpsertCluster(ctx, c); err != nil {
			t.Fatalf("UpsertCluster(%s): %v", c.ID, err)
		}
	}
	got, err := s.ListStatusClusters(ctx)
	if err != nil {
		t.Fatalf("ListStatusClusters: %v", err)
	}
	if len(got) != 2 || got[0].ID != "c1" || got[0].StatusURL != "http://engine/c1/status" || got[1].ID != "c2" {
		t.Errorf("ListStatusClusters: got %+v, want c1 and c2 with their URLs", got)
	}
}

// Migration 4 leaves the status of rows written before it without a time:
// nothing says when it was observed, so polling reports it unknown until the
// engine writes it again.
func TestMigrateStatusTimesOfExistingRows(t *testing.T) {
	s, _ := openEmpty(t)
	ctx := testContext(t)
	if err := s.MigrateTo(2); err != nil {
		t.Fatalf("MigrateTo(2): %v", err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO clusters (id) VALUES ('c1')`); err != nil {
		t.Fatalf("insert cluster: %v", err)
	}
	if _, err := s.Pool().Exec(ctx, `
		INSERT INTO nodes (id, cluster_id, name, physical_id, status, physical_status, hypervisor_state, hypervisor_status)
		VALUES ('n1', 'c1', 'web-1', 'srv-1', 'ACTIVE', 'ACTIVE', 'up', 'enabled')`); err != nil {
		t.Fatalf("insert node: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	wantSchema(t, s, latestVersion)
	n, err := s.GetNode(ctx, "n1")
	if err != nil {
		t.Fatalf("GetNode: %v", err)
	}
	if n.PhysicalStatus != "ACTIVE" || !n.PhysicalStatusAt.IsZero() || !n.HypervisorAt.IsZero() {
		t.Errorf("node written before migration 4: got %q at %v, hypervisor at %v, want ACTIVE with no times",
			n.PhysicalStatus, n.PhysicalStatusAt, n.HypervisorAt)
	}
	if got := health.CheckNodeStatus(n, time.Now(), time.Minute); got.Verdict != health.Unknown {
		t.Errorf("CheckNodeStatus of the migrated node: got %s %q, want unknown", got.Verdict, got.Detail)
	}
	if err := s.SetNodePhysicalStatus(ctx, "n1", "ACTIVE"); err != nil {
		t.Fatalf("SetNodePhysicalStatus: %v", err)
	}
	if n, err = s.GetNode(ctx, "n1"); err != nil || !about(n.PhysicalStatusAt, time.Now()) {
		t.Errorf("after the engine writes it again: got %v (err %v), want about now", n.PhysicalStatusAt, err)
	}
}

// TestSetNodeResource: an engine that finds a node's server replaced points
// the node at the new one without touching what the recoveries write (its
// status and times), and forgets what it saw of the old server.
func TestSetNodeResource(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	seedCluster(t, s, "c2")
	seedNode(t, s, health.Node{ID: "n1", ClusterID: "c1", Name: "web-1", PhysicalID: "old", Status: health.NodeActive,
		PhysicalStatus: "ACTIVE", HypervisorState: "down", HypervisorStatus: "disabled"})
	// A recovery ends after the engine read the node.
	if err := s.SetNodeStatus(ctx, "n1", health.NodeActive, "Recovery succeeded"); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeResource(ctx, "c1", "n1", "web-1b", "new"); err != nil {
		t.Fatal(err)
	}
	n, err := s.GetNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "web-1b" || n.PhysicalID != "new" {
		t.Errorf("resource: got %s %s, want web-1b new", n.Name, n.PhysicalID)
	}
	if n.Status != health.NodeActive || n.StatusReason != "Recovery succeeded" || !n.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("status: got %s %q updated %v, want it as the recovery left it (%v)", n.Status, n.StatusReason, n.UpdatedAt, before.UpdatedAt)
	}
	if n.PhysicalStatus != "" || n.HypervisorState != "" || !n.PhysicalStatusAt.IsZero() || !n.HypervisorAt.IsZero() {
		t.Errorf("what was observed of the old server: got %+v, want it cleared", n)
	}
	if err := s.SetNodeResource(ctx, "c2", "n1", "x", "y"); !errors.Is(err, health.ErrNotFound) {
		t.Errorf("a node of another cluster: got %v, want not found", err)
	}
}
