package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// latestVersion is the newest embedded migration.
const latestVersion = 7

// schemaObjects are the relations and functions the first migration creates.
var schemaObjects = []string{"clusters", "nodes", "actions", "health_events"}

// wantSchema fails the test unless the schema is at version want, clean, and
// (when want > 0) has every table.
func wantSchema(t *testing.T, s *store.Store, want int) {
	t.Helper()
	ctx := testContext(t)
	var (
		version int
		dirty   bool
	)
	err := s.Pool().QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if version != want || dirty {
		t.Errorf("schema_migrations: got version %d dirty %v, want version %d clean", version, dirty, want)
	}
	for _, name := range schemaObjects {
		var exists bool
		if err := s.Pool().QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
			t.Fatalf("look up table %s: %v", name, err)
		}
		if wantExists := want > 0; exists != wantExists {
			t.Errorf("table %s: got exists %v, want %v", name, exists, wantExists)
		}
	}
}

func openEmpty(t *testing.T) (*store.Store, string) {
	t.Helper()
	dsn := storetest.EmptyDSN(t)
	s, err := store.Open(testContext(t), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s, dsn
}

func TestMigrateIsIdempotent(t *testing.T) {
	s, _ := openEmpty(t)
	for i := range 3 {
		if err := s.Migrate(testContext(t)); err != nil {
			t.Fatalf("Migrate #%d: got %v, want nil", i+1, err)
		}
		wantSchema(t, s, latestVersion)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	// Two pools stand for two processes starting at once.
	first, dsn := openEmpty(t)
	second, err := store.Open(testContext(t), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(second.Close)

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, 2)
	)
	for i, s := range []*store.Store{first, second} {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(testContext(t))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate in process %d: got %v, want nil", i+1, err)
		}
	}
	wantSchema(t, first, latestVersion)
}

func TestMigrateDownThenUp(t *testing.T) {
	s := storetest.New(t)
	if err := s.MigrateDown(); err != nil {
		t.Fatalf("MigrateDown: %v", err)
	}
	var exists bool
	if err := s.Pool().QueryRow(testContext(t),
		`SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'health_actions_notify')`).Scan(&exists); err != nil {
		t.Fatalf("look up trigger function: %v", err)
	}
	if exists {
		t.Error("trigger function after MigrateDown: got it, want it dropped")
	}
	for _, name := range schemaObjects {
		var gone bool
		if err := s.Pool().QueryRow(testContext(t), `SELECT to_regclass($1) IS NULL`, name).Scan(&gone); err != nil {
			t.Fatalf("look up table %s: %v", name, err)
		}
		if !gone {
			t.Errorf("table %s after MigrateDown: got it, want it dropped", name)
		}
	}
	if err := s.Migrate(testContext(t)); err != nil {
		t.Fatalf("Migrate after MigrateDown: %v", err)
	}
	wantSchema(t, s, latestVersion)
}

// Migration 2 gives the claims made before leases existed a lease: an old
// RUNNING claim is reclaimable at once, a recent one keeps its executor for a
// while, and every earlier claim counts as one attempt.
func TestMigrateLeasesOfExistingClaims(t *testing.T) {
	s, _ := openEmpty(t)
	ctx := testContext(t)
	if err := s.MigrateTo(1); err != nil {
		t.Fatalf("MigrateTo(1): %v", err)
	}
	wantSchema(t, s, 1)
	rows := []struct {
		key, status, claimedBy, age string
	}{
		{"stuck", "RUNNING", "old/1", "1 hour"},
		{"recent", "RUNNING", "old/2", "10 seconds"},
		{"done", "SUCCEEDED", "old/3", "1 hour"},
		{"ready", "READY", "", "1 hour"},
	}
	ids := map[string]string{}
	for i, r := range rows {
		var id string
		err := s.Pool().QueryRow(ctx, `
			INSERT INTO actions (idempotency_key, cluster_id, node_id, status, claimed_by, created_at, updated_at)
			VALUES ($1, 'c1', 'n-' || $1, $2, NULLIF($3, ''),
				now() - $4::interval + $5 * interval '1 millisecond', now() - $4::interval)
			RETURNING id::text`, r.key, r.status, r.claimedBy, r.age, i).Scan(&id)
		if err != nil {
			t.Fatalf("insert %s: %v", r.key, err)
		}
		ids[r.key] = id
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	wantSchema(t, s, latestVersion)

	wantAttempts := map[string]int{"stuck": 1, "recent": 1, "done": 1, "ready": 0}
	for key, want := range wantAttempts {
		a, err := s.GetAction(ctx, ids[key])
		if err != nil {
			t.Fatalf("GetAction(%s): %v", key, err)
		}
		if a.Attempts != want {
			t.Errorf("attempts of %s: got %d, want %d", key, a.Attempts, want)
		}
	}
	// The stuck claim is taken over, then the READY action; the recent claim
	// is left to its executor.
	for _, want := range []string{"stuck", "ready"} {
		a, ok, err := s.ClaimReadyAction(ctx, "new/1", time.Minute)
		if err != nil || !ok {
			t.Fatalf("ClaimReadyAction: got ok %v err %v, want true nil", ok, err)
		}
		if a.ID != ids[want] {
			t.Errorf("ClaimReadyAction: got %s, want %s (%s)", a.ID, ids[want], want)
		}
	}
	if a, ok, err := s.ClaimReadyAction(ctx, "new/1", time.Minute); err != nil || ok {
		t.Errorf("ClaimReadyAction beside a recent claim: got %s ok %v err %v, want false nil", a.ID, ok, err)
	}
	stuck, err := s.GetAction(ctx, ids["stuck"])
	if err != nil {
		t.Fatalf("GetAction(stuck): %v", err)
	}
	if stuck.Attempts != 2 || stuck.AbandonedBy != "old/1" || stuck.ClaimedBy != "new/1" {
		t.Errorf("reclaimed stuck action: got attempts %d abandoned by %q claimed by %q, want 2 old/1 new/1",
			stuck.Attempts, stuck.AbandonedBy, stuck.ClaimedBy)
	}
}

// Migration 3 keeps the oldest active recovery of each node and cancels the
// others, so that its unique index can be built over existing rows.
func TestMigrateCancelsDuplicateActiveRecoveries(t *testing.T) {
	s, _ := openEmpty(t)
	ctx := testContext(t)
	if err := s.MigrateTo(2); err != nil {
		t.Fatalf("MigrateTo(2): %v", err)
	}
	rows := []struct{ key, node, status string }{
		{"old", "n1", "RUNNING"},
		{"dup", "n1", "READY"},
		{"done", "n1", "SUCCEEDED"},
		{"other", "n2", "READY"},
	}
	ids := map[string]string{}
	for i, r := range rows {
		var id string
		err := s.Pool().QueryRow(ctx, `
			INSERT INTO actions (idempotency_key, cluster_id, node_id, status, created_at)
			VALUES ($1, 'c1', $2, $3, now() - interval '1 hour' + $4 * interval '1 second')
			RETURNING id::text`, r.key, r.node, r.status, i).Scan(&id)
		if err != nil {
			t.Fatalf("insert %s: %v", r.key, err)
		}
		ids[r.key] = id
	}
	if err := s.MigrateTo(3); err != nil {
		t.Fatalf("MigrateTo(3): %v", err)
	}
	want := map[string]health.ActionStatus{"old": health.ActionRunning, "dup": health.ActionCancelled,
		"done": health.ActionSucceeded, "other": health.ActionReady}
	for key, st := range want {
		a, err := s.GetAction(ctx, ids[key])
		if err != nil {
			t.Fatalf("GetAction(%s): %v", key, err)
		}
		if a.Status != st {
			t.Errorf("%s: got %s, want %s", key, a.Status, st)
		}
		if key == "dup" && !strings.Contains(a.Reason, "superseded") {
			t.Errorf("dup reason: got %q, want it to say superseded", a.Reason)
		}
	}
}

// SKIP_MIGRATIONS: a process that does not migrate refuses a schema behind
// its build, or one a failed migration left dirty; Migrate refuses a dirty
// one too.
func TestCheckSchema(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema of a migrated database: %v", err)
	}
	if err := s.MigrateTo(latestVersion - 1); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is at version %d, this build needs %d", latestVersion-1, latestVersion)) {
		t.Errorf("CheckSchema one version behind: got %v", err)
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{"CheckSchema": func() error { return s.CheckSchema(ctx) }, "Migrate": func() error { return s.Migrate(ctx) }} {
		if err := f(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("dirty at version %d", latestVersion-1)) {
			t.Errorf("%s of a dirty schema: got %v", name, err)
		}
	}
}

// A migration that fails leaves its version dirty, and the next start
// refuses to go on until someone repairs the schema.
func TestMigrationFailureLeavesItDirty(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	if err := s.MigrateTo(5); err != nil {
		t.Fatal(err)
	}
	// Migration 6 alters clusters: without it, it fails.
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE clusters RENAME TO clusters_away`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "migration 6") {
		t.Fatalf("a migration that cannot run: got %v, want migration 6 named", err)
	}
	if v, dirty, err := s.SchemaVersion(ctx); err != nil || v != 6 || !dirty {
		t.Errorf("after the failed migration: got version %d dirty %v (%v), want 6 dirty", v, dirty, err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "dirty at version 6") {
		t.Errorf("Migrate again: got %v, want a refusal", err)
	}
	// Repaired by hand: the table back, the flag cleared at the version
	// before.
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE clusters_away RENAME TO clusters; UPDATE schema_migrations SET version = 5, dirty = false`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after the repair: %v", err)
	}
	wantSchema(t, s, latestVersion)
}
