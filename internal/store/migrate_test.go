package store_test

import (
	"sync"
	"testing"

	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

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
		wantSchema(t, s, 1)
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
	wantSchema(t, first, 1)
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
	wantSchema(t, s, 1)
}
