package store

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationsFS holds the versioned schema, NNNNNN_name.up.sql and .down.sql.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrate brings the schema up to the newest embedded version. It is
// idempotent, and safe when several processes start at once: golang-migrate
// serialises them with a Postgres advisory lock. When ctx ends, Migrate stops
// after the migration in progress.
func (s *Store) Migrate(ctx context.Context) (err error) {
	m, err := s.migrator()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	// The migrator holds a connection of the pool: close it before anyone
	// closes the pool, or closing the pool waits for it forever.
	defer func() {
		srcErr, dbErr := m.Close()
		if cerr := errors.Join(srcErr, dbErr); cerr != nil && err == nil {
			err = fmt.Errorf("store: migrate: close: %w", cerr)
		}
	}()
	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	defer stop()

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// migrator builds a golang-migrate instance over the embedded migrations and
// a database/sql view of the pool. The caller closes it.
func (s *Store) migrator() (*migrate.Migrate, error) {
	src, err := iofs.New(migrationsFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		return nil, errors.Join(err, src.Close(), db.Close())
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		return nil, errors.Join(err, src.Close(), drv.Close())
	}
	return m, nil
}
