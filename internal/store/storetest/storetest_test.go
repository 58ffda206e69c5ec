package storetest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/internal/testkit"
)

// recordingTB stands in for a test so that its failure can be inspected.
type recordingTB struct {
	testing.TB
	fatal    string
	cleanups []func()
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func TestUnreachableServerFailsTheTest(t *testing.T) {
	testkit.Integration(t, "the helper as integration tests use it (under -short it skips instead of failing)")
	t.Setenv(storetest.EnvURL, "postgres://postgres:s3cr3t-pw@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
	rec := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		storetest.New(rec)
	}()
	<-done

	if rec.fatal == "" {
		t.Fatal("New with an unreachable server: got no failure, want Fatalf")
	}
	for _, want := range []string{"unreachable", "127.0.0.1:1", storetest.EnvURL} {
		if !strings.Contains(rec.fatal, want) {
			t.Errorf("failure message %q: want it to mention %q", rec.fatal, want)
		}
	}
	if strings.Contains(rec.fatal, "s3cr3t-pw") {
		t.Errorf("failure message %q: want it without the password", rec.fatal)
	}
	if len(rec.cleanups) != 0 {
		t.Errorf("cleanups registered: got %d, want 0 (nothing was created)", len(rec.cleanups))
	}
}

func TestNewGivesAFreshMigratedDatabaseAndDropsIt(t *testing.T) {
	rec := &recordingTB{TB: t}
	s := storetest.New(rec)
	ctx := t.Context()

	var name string
	if err := s.Pool().QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatalf("current_database: %v", err)
	}
	if !strings.HasPrefix(name, "healthd_test_") {
		t.Errorf("database: got %q, want the prefix healthd_test_", name)
	}
	var tables int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('clusters', 'nodes', 'actions', 'health_events')`).Scan(&tables); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	if tables != 4 {
		t.Errorf("contract tables: got %d, want 4", tables)
	}

	// Run the cleanups as the testing package would: last registered first.
	for i := len(rec.cleanups) - 1; i >= 0; i-- {
		rec.cleanups[i]()
	}
	if rec.fatal != "" {
		t.Fatalf("cleanup failed: %s", rec.fatal)
	}
	other := storetest.New(t)
	var exists bool
	if err := other.Pool().QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("look up database: %v", err)
	}
	if exists {
		t.Errorf("database %s after cleanup: got it, want it dropped", name)
	}
}
