package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/clusterhealth/healthd/internal/health"
)

// AddHealthEvents appends the events to the incident timeline, all or none.
// An event with a zero At is stamped with the database's now().
func (s *Store) AddHealthEvents(ctx context.Context, events []health.HealthEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, e := range events {
			b.Queue(`
				INSERT INTO health_events (cluster_id, node_id, at, from_verdict, to_verdict, reason, action_id)
				VALUES ($1, $2, COALESCE($3, now()), $4, $5, $6, NULLIF($7, ''))`,
				e.ClusterID, e.NodeID, nullTime(e.At), string(e.From), string(e.To), e.Reason, e.ActionID)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("store: add %d health events: %w", len(events), err)
	}
	return nil
}

// ListHealthEvents returns the newest limit events of the cluster, newest
// first; limit <= 0 returns them all.
func (s *Store) ListHealthEvents(ctx context.Context, clusterID string, limit int) ([]health.HealthEvent, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `
		SELECT cluster_id, node_id, at, from_verdict, to_verdict, COALESCE(reason, ''), COALESCE(action_id, '')
		FROM health_events
		WHERE cluster_id = $1
		ORDER BY at DESC, id DESC
		LIMIT $2`, clusterID, lim)
	if err != nil {
		return nil, fmt.Errorf("store: list health events of cluster %q: %w", clusterID, err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.HealthEvent, error) {
		var e health.HealthEvent
		err := r.Scan(&e.ClusterID, &e.NodeID, &e.At, &e.From, &e.To, &e.Reason, &e.ActionID)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list health events of cluster %q: %w", clusterID, err)
	}
	return events, nil
}
