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
