package store

import (
	"context"
	"fmt"
	"time"
)

// DefaultRetention is how long the timeline and finished actions are kept
// (RETENTION): 90 days.
const DefaultRetention = 90 * 24 * time.Hour

// retentionBatch bounds the rows one statement deletes, so that retention
// never holds long locks or writes a huge transaction.
const retentionBatch = 1000

// retentionLock lets one process of many prune at a time.
const retentionLock = migrationLock + 1

// Pruned counts what Prune deleted.
type Pruned struct {
	HealthEvents, Actions, NodeChecks int64
	// Skipped: another process held the retention lock.
	Skipped bool
}

// Prune deletes, in batches of at most 1,000 rows: the health_events
// before before; the actions that finished before before; and the
// node_checks of nodes that no longer exist. Active actions are never
// deleted. One process at a time prunes (the others skip).
func (s *Store) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	var p Pruned
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return p, fmt.Errorf("store: prune: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(retentionLock)).Scan(&locked); err != nil {
		return p, fmt.Errorf("store: prune: %w", err)
	}
	if !locked {
		p.Skipped = true
		return p, nil
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(retentionLock))
	}()
	for _, step := range []struct {
		n    *int64
		sql  string
		args []any
	}{
		{&p.HealthEvents, `DELETE FROM health_events WHERE id IN (SELECT id FROM health_events WHERE at < $1 LIMIT $2)`,
			[]any{before, retentionBatch}},
		{&p.Actions, `DELETE FROM actions WHERE id IN (SELECT id FROM actions
			WHERE finished_at < $1 AND status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') LIMIT $2)`, []any{before, retentionBatch}},
		{&p.NodeChecks, `DELETE FROM node_checks WHERE (cluster_id, node_id) IN (SELECT c.cluster_id, c.node_id FROM node_checks c
			WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = c.node_id AND n.cluster_id = c.cluster_id) LIMIT $1)`,
			[]any{retentionBatch}},
	} {
		for {
			tag, err := conn.Exec(ctx, step.sql, step.args...)
			if err != nil {
				return p, fmt.Errorf("store: prune: %w", err)
			}
			*step.n += tag.RowsAffected()
			if tag.RowsAffected() < retentionBatch {
				break
			}
		}
	}
	return p, nil
}
