package store

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// DefaultHealthEventLimit is how many events HealthTimeline returns when the
// filter sets no limit: the most recent ones.
const DefaultHealthEventLimit = 1000

// HealthEventFilter selects the events of one cluster's timeline.
type HealthEventFilter struct {
	// ClusterID is the cluster whose events are returned; required.
	ClusterID string
	// NodeID, when set, keeps the events of this node only.
	NodeID string
	// Since, when set, keeps the events at or after this time.
	Since time.Time
	// Limit keeps the most recent Limit events of those selected; 0 means
	// DefaultHealthEventLimit.
	Limit int
}

// HealthTimeline returns the cluster's events that match f, oldest first (the
// newest last): the most recent f.Limit of them, so that a long timeline
// shows its end.
func (s *Store) HealthTimeline(ctx context.Context, f HealthEventFilter) ([]health.HealthEvent, error) {
	switch {
	case f.ClusterID == "":
		return nil, errors.New("store: list health events: HealthEventFilter.ClusterID is empty")
	case f.Limit < 0:
		return nil, fmt.Errorf("store: list health events of cluster %q: HealthEventFilter.Limit must not be negative, got %d", f.ClusterID, f.Limit)
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultHealthEventLimit
	}
	// The inner query takes the newest rows through the (cluster_id, at)
	// index; the outer one puts them back in time order.
	rows, err := s.pool.Query(ctx, `
		SELECT cluster_id, node_id, at, from_verdict, to_verdict, reason, action_id
		FROM (
			SELECT id, cluster_id, node_id, at, from_verdict, to_verdict,
				COALESCE(reason, '') AS reason, COALESCE(action_id, '') AS action_id
			FROM health_events
			WHERE cluster_id = $1
				AND ($2 = '' OR node_id = $2)
				AND ($3::timestamptz IS NULL OR at >= $3)
			ORDER BY at DESC, id DESC
			LIMIT $4
		) newest
		ORDER BY at, id`, f.ClusterID, f.NodeID, nullTime(f.Since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list health events of cluster %q: %w", f.ClusterID, err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.HealthEvent, error) {
		var e health.HealthEvent
		err := r.Scan(&e.ClusterID, &e.NodeID, &e.At, &e.From, &e.To, &e.Reason, &e.ActionID)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list health events of cluster %q: %w", f.ClusterID, err)
	}
	return events, nil
}
