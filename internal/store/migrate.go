package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// migrationsFS holds the versioned schema, NNNNNN_name.up.sql and .down.sql.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

// The schema's version lives in schema_migrations, one row (version, dirty),
// as golang-migrate, which this replaces, kept it: databases it migrated
// go on from where they are.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`

// migrationLock is the Postgres advisory lock that serialises processes
// migrating at once (the key is "healthd" read as a number).
const migrationLock = 0x6865616c746864

type migration struct {
	version  int
	up, down string
}

var migrationFile = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.(up|down)\.sql$`)

// migrations reads the embedded migrations, by version; each has an up and
// a down file.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationsFS, "migrations")
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*migration{}
	for _, e := range entries {
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: not NNNNNN_name.up.sql or .down.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(migrationsFS, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		mg := byVersion[v]
		if mg == nil {
			mg = &migration{version: v}
			byVersion[v] = mg
		}
		if m[2] == "up" {
			mg.up = string(b)
		} else {
			mg.down = string(b)
		}
	}
	var out []migration
	for _, v := range slices.Sorted(maps.Keys(byVersion)) {
		mg := byVersion[v]
		if mg.up == "" || mg.down == "" {
			return nil, fmt.Errorf("migration %d: needs both an up and a down file", v)
		}
		out = append(out, *mg)
	}
	return out, nil
}

// LatestVersion is the newest embedded migration: the schema version this
// build needs.
func LatestVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate brings the schema up to the newest embedded version. It is
// idempotent, and safe when several processes start at once: they take
// turns under a Postgres advisory lock. Each migration runs as one
// statement batch; a batch that fails leaves the version marked dirty, and
// every later start refuses until someone repairs the schema and clears it.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrateTo(ctx, LatestVersion()); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// SchemaVersion reports the database's schema version and whether a
// migration failed half-way (dirty); 0 for a database never migrated.
func (s *Store) SchemaVersion(ctx context.Context) (version int, dirty bool, err error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, false, err
	}
	err = s.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&version, &dirty)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return version, dirty, err
}

// CheckSchema is what a process that does not migrate (SKIP_MIGRATIONS)
// checks at start: the schema is at the version this build needs, and clean.
func (s *Store) CheckSchema(ctx context.Context) error {
	v, dirty, err := s.SchemaVersion(ctx)
	switch want := LatestVersion(); {
	case err != nil:
		return fmt.Errorf("store: read the schema version: %w", err)
	case dirty:
		return fmt.Errorf("store: the schema is dirty at version %d: a migration failed half-way; repair it, then clear schema_migrations.dirty", v)
	case v != want:
		return fmt.Errorf("store: the schema is at version %d, this build needs %d: run `worker migrate` with a role that may change the schema (SKIP_MIGRATIONS is set)", v, want)
	}
	return nil
}

// migrateTo moves the schema up or down to target.
func (s *Store) migrateTo(ctx context.Context, target int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	}()
	if _, err := conn.Exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var cur int
	var dirty bool
	err = conn.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&cur, &dirty)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read schema_migrations: %w", err)
	case dirty:
		return fmt.Errorf("the schema is dirty at version %d: a migration failed half-way; repair it, then clear schema_migrations.dirty", cur)
	}
	if cur > LatestVersion() && target >= cur {
		return fmt.Errorf("the schema is at version %d, newer than this build's %d: run a newer build", cur, LatestVersion())
	}
	set := func(v int, dirty bool) error {
		_, err := conn.Exec(ctx, `BEGIN; DELETE FROM schema_migrations; `+
			fmt.Sprintf(`INSERT INTO schema_migrations (version, dirty) SELECT %d, %t WHERE %d > 0; COMMIT`, v, dirty, v))
		return err
	}
	run := func(v int, sql string, after int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := set(v, true); err != nil {
			return fmt.Errorf("migration %d: mark it under way: %w", v, err)
		}
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := set(after, false); err != nil {
			return fmt.Errorf("migration %d: record it: %w", v, err)
		}
		return nil
	}
	for _, m := range ms {
		if m.version > cur && m.version <= target {
			if err := run(m.version, m.up, m.version); err != nil {
				return err
			}
			cur = m.version
		}
	}
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.version <= cur && m.version > target {
			prev := 0
			if i > 0 {
				prev = ms[i-1].version
			}
			if err := run(m.version, m.down, prev); err != nil {
				return err
			}
			cur = prev
		}
	}
	return nil
}
