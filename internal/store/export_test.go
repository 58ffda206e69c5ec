package store

import (
	"errors"
	"fmt"
)

// MigrateDown reverts every migration, so that tests can check the down files.
func (s *Store) MigrateDown() (err error) {
	m, err := s.migrator()
	if err != nil {
		return fmt.Errorf("store: migrate down: %w", err)
	}
	defer func() {
		srcErr, dbErr := m.Close()
		if cerr := errors.Join(srcErr, dbErr); cerr != nil && err == nil {
			err = fmt.Errorf("store: migrate down: close: %w", cerr)
		}
	}()
	if err := m.Down(); err != nil {
		return fmt.Errorf("store: migrate down: %w", err)
	}
	return nil
}

// MigrateTo moves the schema up or down to version, so that tests can check
// what a migration does to rows written under the previous one.
func (s *Store) MigrateTo(version uint) (err error) {
	m, err := s.migrator()
	if err != nil {
		return fmt.Errorf("store: migrate to %d: %w", version, err)
	}
	defer func() {
		srcErr, dbErr := m.Close()
		if cerr := errors.Join(srcErr, dbErr); cerr != nil && err == nil {
			err = fmt.Errorf("store: migrate to %d: close: %w", version, cerr)
		}
	}()
	if err := m.Migrate(version); err != nil {
		return fmt.Errorf("store: migrate to %d: %w", version, err)
	}
	return nil
}
