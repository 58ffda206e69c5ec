// Package store is the Postgres side of the engine contract: the clusters and
// nodes an engine writes, the recover actions this project asks it for, and the
// health_events timeline. It owns the pgx pool, the embedded migrations and the
// LISTEN/NOTIFY watcher that wakes action waiters without polling.
//
// The package never logs: errors are returned, and the Watcher hands the errors
// of its background loop to an optional callback.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Store runs the engine-contract queries over a pgx pool. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at dsn (a postgres:// URL or keyword/value
// string) and checks that it answers. Error messages never contain the DSN,
// which may hold a password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error quotes the DSN (best-effort redacted), so it is
		// deliberately not wrapped.
		return nil, errors.New("store: open: cannot parse the database URL (not shown: it may hold a password)")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool. Stop a Watcher built on the pool first.
func (s *Store) Close() {
	s.pool.Close()
}

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Pool returns the underlying pool, for a Watcher or for callers that need
// queries of their own.
func (s *Store) Pool() *pgxpool.Pool {
	return s.pool
}
