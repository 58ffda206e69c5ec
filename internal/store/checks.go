package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clusterhealth/healthd/internal/health"
)

// NodeExceptions returns the last check records of the cluster's nodes that
// were not plainly healthy, by node ID.
func (s *Store) NodeExceptions(ctx context.Context, clusterID string) (map[string]health.CheckRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT node_id, verdict, reason, since, checked_at FROM node_checks WHERE cluster_id = $1`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("store: node exceptions of cluster %q: %w", clusterID, err)
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.CheckRecord, error) {
		var c health.CheckRecord
		err := r.Scan(&c.NodeID, &c.Verdict, &c.Reason, &c.Since, &c.CheckedAt)
		c.Since, c.CheckedAt = c.Since.UTC(), c.CheckedAt.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: node exceptions of cluster %q: %w", clusterID, err)
	}
	out := make(map[string]health.CheckRecord, len(recs))
	for _, c := range recs {
		out[c.NodeID] = c
	}
	return out, nil
}

// RecordSweep stores one sweep of a cluster in one transaction: its summary,
// and the records of the nodes that are not plainly healthy, which replace
// the cluster's previous ones (a node left out is healthy, or gone). Its cost
// grows with the exceptions, not with the cluster.
func (s *Store) RecordSweep(ctx context.Context, clusterID string, sum health.SweepSummary, recs []health.CheckRecord) error {
	if clusterID == "" {
		return errors.New("store: record sweep: empty cluster id")
	}
	ids := make([]string, len(recs))
	verdicts := make([]string, len(recs))
	reasons := make([]string, len(recs))
	since := make([]time.Time, len(recs))
	checked := make([]time.Time, len(recs))
	for i, r := range recs {
		ids[i], verdicts[i], reasons[i], since[i], checked[i] = r.NodeID, string(r.Verdict), r.Reason, r.Since, r.CheckedAt
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM node_checks WHERE cluster_id = $1 AND NOT (node_id = ANY($2))`, clusterID, ids); err != nil {
			return err
		}
		if len(recs) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO node_checks (cluster_id, node_id, verdict, reason, since, checked_at)
				SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
				ON CONFLICT (cluster_id, node_id) DO UPDATE SET
					verdict = EXCLUDED.verdict, reason = EXCLUDED.reason,
					since = EXCLUDED.since, checked_at = EXCLUDED.checked_at`,
				clusterID, ids, verdicts, reasons, since, checked); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO cluster_checks (cluster_id, checked_at, nodes, healthy, unhealthy, unknown, skipped)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (cluster_id) DO UPDATE SET checked_at = EXCLUDED.checked_at, nodes = EXCLUDED.nodes,
				healthy = EXCLUDED.healthy, unhealthy = EXCLUDED.unhealthy, unknown = EXCLUDED.unknown, skipped = EXCLUDED.skipped`,
			clusterID, sum.At, sum.Nodes, sum.Healthy, sum.Unhealthy, sum.Unknown, sum.Skipped)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record sweep of cluster %q (%d exceptions): %w", clusterID, len(recs), err)
	}
	return nil
}

// NodeViews returns every node of the cluster with its last check, by name,
// and the cluster's last sweep (zero when none ran): what the workflow keeps
// only for the nodes that are not plainly healthy.
func (s *Store) NodeViews(ctx context.Context, clusterID string) ([]health.NodeView, health.SweepSummary, error) {
	var sum health.SweepSummary
	err := s.pool.QueryRow(ctx, `SELECT checked_at, nodes, healthy, unhealthy, unknown, skipped FROM cluster_checks WHERE cluster_id = $1`,
		clusterID).Scan(&sum.At, &sum.Nodes, &sum.Healthy, &sum.Unhealthy, &sum.Unknown, &sum.Skipped)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, sum, fmt.Errorf("store: node views of cluster %q: %w", clusterID, err)
	}
	sum.At = sum.At.UTC()
	nodes, err := s.ListNodes(ctx, clusterID)
	if err != nil {
		return nil, sum, err
	}
	exc, err := s.NodeExceptions(ctx, clusterID)
	if err != nil {
		return nil, sum, err
	}
	views := make([]health.NodeView, len(nodes))
	for i, n := range nodes {
		views[i] = health.NodeView{Node: n}
		if rec, ok := exc[n.ID]; ok {
			views[i].Verdict, views[i].Reason, views[i].Since, views[i].CheckedAt = rec.Verdict, rec.Reason, rec.Since, rec.CheckedAt
		} else if !sum.At.IsZero() {
			views[i].Verdict, views[i].CheckedAt = health.Healthy, sum.At
		}
	}
	return views, sum, nil
}
