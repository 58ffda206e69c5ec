// Package storetest gives tests a fresh, migrated Postgres database of their
// own on the server named by TEST_DATABASE_URL, and drops it when the test ends.
//
// A missing server fails the test rather than skipping it: store tests are
// meant to run against real Postgres, in CI too.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/testkit"
)

// EnvURL names the environment variable holding the URL of a database on the
// test server; storetest connects to it to create and drop test databases.
const EnvURL = "TEST_DATABASE_URL"

// DefaultURL is used when EnvURL is unset: the local server, trust auth.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// setupTimeout bounds each administrative step (connect, create, drop, migrate).
const setupTimeout = 30 * time.Second

// New returns a Store on a fresh, migrated database that is dropped when the
// test ends; the Store is closed before that.
func New(t testing.TB) *store.Store {
	t.Helper()
	dsn := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: open test database: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// DSN creates a fresh, migrated database that is dropped when the test ends,
// and returns its DSN, for tests that open their own pools. Close them before
// the test ends (t.Cleanup runs last-registered first).
func DSN(t testing.TB) string {
	t.Helper()
	dsn := EmptyDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: open test database: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return dsn
}

// EmptyDSN creates a fresh database without any schema, dropped when the test
// ends, and returns its DSN: for tests of the migrations themselves.
func EmptyDSN(t testing.TB) string {
	t.Helper()
	testkit.Integration(t, "PostgreSQL")
	admin := os.Getenv(EnvURL)
	if admin == "" {
		admin = DefaultURL
	}
	name := "healthd_test_" + randomSuffix()
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvURL, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn := connect(ctx, t, admin)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		conn := connect(ctx, t, admin)
		defer conn.Close(ctx)
		// FORCE ends sessions a test left behind, such as a watcher's.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// connect opens an administrative connection or fails the test with a message
// that says what to do.
func connect(ctx context.Context, t testing.TB, admin string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatalf("storetest: %s cannot be parsed (not shown: it may hold a password)", EnvURL)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("storetest: Postgres at %s:%d is unreachable: %v\n"+
			"start the local server, or set %s to a server where user %q may create databases",
			cfg.Host, cfg.Port, err, EnvURL, cfg.User)
	}
	return conn
}

// withDatabase returns dsn with its database replaced by name. It accepts
// URLs and keyword/value strings.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errInvalidURL
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In a keyword/value string the last setting of a keyword wins.
	return dsn + " dbname=" + name, nil
}

// errInvalidURL hides the URL, which may hold a password.
var errInvalidURL = errors.New("cannot parse the URL (not shown: it may hold a password)")

// randomSuffix makes database names unique across concurrent test binaries.
func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
