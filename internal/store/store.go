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
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Store runs the engine-contract queries over a pgx pool. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// DefaultMaxConns is the size of a process's connection pool unless
// DATABASE_URL sets pool_max_conns.
const DefaultMaxConns = 16

// Open connects to the database at dsn (a postgres:// URL or keyword/value
// string) and checks that it answers. Error messages never contain the DSN,
// which may hold a password. TLS is set in the DSN, as libpq reads it:
// sslmode=verify-full with sslrootcert=<CA file> checks the server's
// certificate and host name; a certificate that does not verify fails with
// an error naming the parameter to look at.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error quotes the DSN (best-effort redacted), so it is
		// deliberately not wrapped.
		return nil, errors.New("store: open: cannot parse the database URL (not shown: it may hold a password)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default, max(4, CPUs), is 4 on a small machine: the sweeps
		// of a fleet, the timeline's writes and the engine then queue for a
		// connection. pool_max_conns in the URL sets it.
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w%s", err, tlsHint(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open: %w%s", err, tlsHint(err))
	}
	return &Store{pool: pool}, nil
}

// tlsHint explains a server certificate that did not verify, which pgx
// reports without naming the URL parameters that decide it; "" for any other
// error.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return " (the server's certificate is not signed by the CA in sslrootcert, or by one of the system's roots when sslrootcert is unset)"
	case errors.As(err, &host):
		return " (the server's certificate is not for the host of the URL, which sslmode=verify-full checks)"
	}
	return ""
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
