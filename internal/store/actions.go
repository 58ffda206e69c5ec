package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/clusterhealth/healthd/internal/health"
)

// ErrActionFinished is wrapped by FinishAction when the action already has a
// terminal status.
var ErrActionFinished = errors.New("action is already finished")

const actionColumns = `id::text, idempotency_key, cluster_id, node_id, action, params,
	status, COALESCE(reason, ''), created_at, updated_at`

func scanAction(row pgx.Row) (health.Action, error) {
	var (
		a      health.Action
		params []byte
	)
	err := row.Scan(&a.ID, &a.IdempotencyKey, &a.ClusterID, &a.NodeID, &a.Action,
		&params, &a.Status, &a.Reason, &a.CreatedAt, &a.UpdatedAt)
	if err != nil {
		return health.Action{}, err
	}
	if err := json.Unmarshal(params, &a.Params); err != nil {
		return health.Action{}, fmt.Errorf("decode params of action %s: %w", a.ID, err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	return a, nil
}

// validActionID reports whether id can be an action id (a UUID). Anything else
// names no action, so lookups report it as not found instead of sending
// Postgres a value it rejects.
func validActionID(id string) bool {
	var u pgtype.UUID
	return u.Scan(id) == nil
}

// CreateRecoverAction inserts a READY NODE_RECOVER action for the node unless
// an action with the same idempotency key exists. It returns the action either
// way, and whether this call created it. Concurrent calls with one key create
// one row.
func (s *Store) CreateRecoverAction(ctx context.Context, key, clusterID, nodeID string, p health.RecoverParams) (health.Action, bool, error) {
	if key == "" {
		return health.Action{}, false, errors.New("store: create recover action: empty idempotency key")
	}
	params, err := json.Marshal(p)
	if err != nil {
		return health.Action{}, false, fmt.Errorf("store: create recover action %q: encode params: %w", key, err)
	}
	a, err := scanAction(s.pool.QueryRow(ctx, `
		INSERT INTO actions (idempotency_key, cluster_id, node_id, action, params, status)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING `+actionColumns,
		key, clusterID, nodeID, health.ActionNodeRecover, params, string(health.ActionReady)))
	switch {
	case err == nil:
		return a, true, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return health.Action{}, false, fmt.Errorf("store: create recover action %q: %w", key, err)
	}
	// The key exists. ON CONFLICT waited for the inserting transaction to
	// commit, so this new statement sees its row.
	a, err = scanAction(s.pool.QueryRow(ctx,
		`SELECT `+actionColumns+` FROM actions WHERE idempotency_key = $1`, key))
	if err != nil {
		return health.Action{}, false, fmt.Errorf("store: create recover action %q: read existing: %w", key, err)
	}
	return a, false, nil
}

// GetAction returns the action; the error wraps health.ErrNotFound when it
// does not exist.
func (s *Store) GetAction(ctx context.Context, id string) (health.Action, error) {
	if !validActionID(id) {
		return health.Action{}, fmt.Errorf("store: get action %q: %w", id, health.ErrNotFound)
	}
	a, err := scanAction(s.pool.QueryRow(ctx, `SELECT `+actionColumns+` FROM actions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return health.Action{}, fmt.Errorf("store: get action %q: %w", id, health.ErrNotFound)
	}
	if err != nil {
		return health.Action{}, fmt.Errorf("store: get action %q: %w", id, err)
	}
	return a, nil
}

// ListActions returns the actions of the cluster, newest first.
func (s *Store) ListActions(ctx context.Context, clusterID string) ([]health.Action, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+actionColumns+` FROM actions
		WHERE cluster_id = $1 ORDER BY created_at DESC, id DESC`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("store: list actions of cluster %q: %w", clusterID, err)
	}
	actions, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.Action, error) {
		return scanAction(r)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list actions of cluster %q: %w", clusterID, err)
	}
	return actions, nil
}

// ClaimReadyAction moves the oldest READY action to RUNNING on behalf of
// worker and returns it; ok is false when no action is ready. Rows locked by
// another claimer are skipped (FOR UPDATE SKIP LOCKED), so concurrent
// executors never claim the same action and never wait for each other.
func (s *Store) ClaimReadyAction(ctx context.Context, worker string) (a health.Action, ok bool, err error) {
	if worker == "" {
		return health.Action{}, false, errors.New("store: claim ready action: empty worker name")
	}
	a, err = scanAction(s.pool.QueryRow(ctx, `
		UPDATE actions SET status = $1, claimed_by = $2, updated_at = now()
		WHERE id = (
			SELECT id FROM actions
			WHERE status = $3
			ORDER BY created_at, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		RETURNING `+actionColumns,
		string(health.ActionRunning), worker, string(health.ActionReady)))
	if errors.Is(err, pgx.ErrNoRows) {
		return health.Action{}, false, nil
	}
	if err != nil {
		return health.Action{}, false, fmt.Errorf("store: claim ready action for %q: %w", worker, err)
	}
	return a, true, nil
}

// FinishAction gives a READY or RUNNING action its terminal status (SUCCEEDED,
// FAILED or CANCELLED) and reason. The error wraps health.ErrNotFound when the
// action does not exist and ErrActionFinished when it already has a terminal
// status.
func (s *Store) FinishAction(ctx context.Context, id string, status health.ActionStatus, reason string) error {
	if !status.Terminal() {
		return fmt.Errorf("store: finish action %q: status %q is not terminal (want SUCCEEDED, FAILED or CANCELLED)", id, status)
	}
	if !validActionID(id) {
		return fmt.Errorf("store: finish action %q: %w", id, health.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE actions SET status = $2, reason = $3, updated_at = now(), finished_at = now()
		WHERE id = $1 AND status IN ($4, $5)`,
		id, string(status), reason, string(health.ActionReady), string(health.ActionRunning))
	if err != nil {
		return fmt.Errorf("store: finish action %q: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var current health.ActionStatus
	err = s.pool.QueryRow(ctx, `SELECT status FROM actions WHERE id = $1`, id).Scan(&current)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: finish action %q: %w", id, health.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: finish action %q: %w", id, err)
	}
	return fmt.Errorf("store: finish action %q: %w (%s)", id, ErrActionFinished, current)
}
