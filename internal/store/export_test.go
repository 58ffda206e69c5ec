package store

import (
	"context"
	"fmt"
)

// MigrateDown reverts every migration, so that tests can check the down files.
func (s *Store) MigrateDown() error {
	if err := s.migrateTo(context.Background(), 0); err != nil {
		return fmt.Errorf("store: migrate down: %w", err)
	}
	return nil
}

// MigrateTo moves the schema up or down to version, so that tests can check
// what a migration does to rows written under the previous one.
func (s *Store) MigrateTo(version uint) error {
	if err := s.migrateTo(context.Background(), int(version)); err != nil {
		return fmt.Errorf("store: migrate to %d: %w", version, err)
	}
	return nil
}
