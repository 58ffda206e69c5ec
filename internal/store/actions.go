package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/clusterhealth/healthd/internal/health"
)

// ErrActionFinished is wrapped by FinishAction, FinishClaimedAction and
// RenewLease when the action already has a terminal status.
var ErrActionFinished = errors.New("action is already finished")

const actionColumns = `id::text, idempotency_key, cluster_id, node_id, action, params,
	status, COALESCE(reason, ''), created_at, updated_at,
	COALESCE(claimed_by, ''), attempts, COALESCE(abandoned_by, ''), lease_until`

func scanAction(row pgx.Row) (health.Action, error) {
	var (
		a          health.Action
		params     []byte
		leaseUntil *time.Time
	)
	err := row.Scan(&a.ID, &a.IdempotencyKey, &a.ClusterID, &a.NodeID, &a.Action,
		&params, &a.Status, &a.Reason, &a.CreatedAt, &a.UpdatedAt,
		&a.ClaimedBy, &a.Attempts, &a.AbandonedBy, &leaseUntil)
	if err != nil {
		return health.Action{}, err
	}
	if err := json.Unmarshal(params, &a.Params); err != nil {
		return health.Action{}, fmt.Errorf("decode params of action %s: %w", a.ID, err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	if leaseUntil != nil {
		a.LeaseUntil = leaseUntil.UTC()
	}
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
// an action with the same idempotency key exists, or another NODE_RECOVER of
// the node is still active (READY or RUNNING): a node has at most one active
// recovery (a partial unique index says so). It returns the action with the
// key, else the node's active action, and whether this call created it.
// Concurrent calls with one key, or for one node, create one row.
func (s *Store) CreateRecoverAction(ctx context.Context, key, clusterID, nodeID string, p health.RecoverParams) (health.Action, bool, error) {
	if key == "" {
		return health.Action{}, false, errors.New("store: create recover action: empty idempotency key")
	}
	params, err := json.Marshal(p)
	if err != nil {
		return health.Action{}, false, fmt.Errorf("store: create recover action %q: encode params: %w", key, err)
	}
	// The node's active action may finish between the insert that it blocks
	// and the read that looks for it; then the insert is tried again.
	for range 3 {
		a, err := scanAction(s.pool.QueryRow(ctx, `
			INSERT INTO actions (idempotency_key, cluster_id, node_id, action, params, status)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT DO NOTHING
			RETURNING `+actionColumns,
			key, clusterID, nodeID, health.ActionNodeRecover, params, string(health.ActionReady)))
		switch {
		case err == nil:
			return a, true, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return health.Action{}, false, fmt.Errorf("store: create recover action %q: %w", key, err)
		}
		// The key exists, or the node has an active recovery. ON CONFLICT
		// waited for the inserting transaction to commit, so this new
		// statement sees its row.
		a, err = scanAction(s.pool.QueryRow(ctx, `SELECT `+actionColumns+` FROM actions
			WHERE idempotency_key = $1
			UNION ALL
			(SELECT `+actionColumns+` FROM actions
			 WHERE cluster_id = $2 AND node_id = $3 AND action = $4 AND status IN ('READY', 'RUNNING')
			 LIMIT 1)
			LIMIT 1`, key, clusterID, nodeID, health.ActionNodeRecover))
		switch {
		case err == nil:
			return a, false, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return health.Action{}, false, fmt.Errorf("store: create recover action %q: read existing: %w", key, err)
		}
	}
	return health.Action{}, false, fmt.Errorf("store: create recover action %q: node %s of cluster %s: "+
		"its active recovery kept finishing while this one was requested; try again", key, nodeID, clusterID)
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

// ActiveActions counts the actions not finished yet, by status (READY,
// RUNNING): the recoveries in flight of every cluster. It reads the
// (status, created_at) index only.
func (s *Store) ActiveActions(ctx context.Context) (map[health.ActionStatus]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM actions
		WHERE status IN ('READY', 'RUNNING') GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: count active actions: %w", err)
	}
	out := map[health.ActionStatus]int{}
	var status string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		out[health.ActionStatus(status)] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: count active actions: %w", err)
	}
	return out, nil
}

// ClaimReadyAction claims the oldest claimable action on behalf of worker for
// lease and returns it; ok is false when no action is claimable. An action is
// claimable when it is READY, or RUNNING with an expired lease: a claim its
// executor abandoned (it crashed, or lost the database and stopped renewing).
// The claim sets RUNNING, claimed_by = worker, lease_until = now() + lease and
// increments attempts; a reclaim also records the previous claimer in
// AbandonedBy. The claimer keeps the action by calling RenewLease before the
// lease ends, and finishes it with FinishClaimedAction.
//
// Rows locked by another claimer are skipped (FOR UPDATE SKIP LOCKED), so
// concurrent executors never claim the same action and never wait for each
// other. Leases are measured on the database's clock only.
func (s *Store) ClaimReadyAction(ctx context.Context, worker string, lease time.Duration) (a health.Action, ok bool, err error) {
	if worker == "" {
		return health.Action{}, false, errors.New("store: claim ready action: empty worker name")
	}
	if lease <= 0 {
		return health.Action{}, false, fmt.Errorf("store: claim ready action for %q: lease %v is not positive", worker, lease)
	}
	a, err = scanAction(s.pool.QueryRow(ctx, `
		WITH claimable AS (
			SELECT id AS claim_id, status AS was, claimed_by AS previous FROM actions
			WHERE status = $3 OR (status = $1 AND lease_until < now())
			ORDER BY created_at, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE actions SET
			status = $1,
			claimed_by = $2,
			lease_until = now() + $4::bigint * interval '1 microsecond',
			attempts = attempts + 1,
			abandoned_by = CASE WHEN claimable.was = $1 THEN claimable.previous ELSE abandoned_by END,
			updated_at = now()
		FROM claimable
		WHERE actions.id = claimable.claim_id
		RETURNING `+actionColumns,
		string(health.ActionRunning), worker, string(health.ActionReady), leaseMicros(lease)))
	if errors.Is(err, pgx.ErrNoRows) {
		return health.Action{}, false, nil
	}
	if err != nil {
		return health.Action{}, false, fmt.Errorf("store: claim ready action for %q: %w", worker, err)
	}
	return a, true, nil
}

// leaseMicros is the lease in whole microseconds (Postgres' resolution),
// rounded up so that a positive lease never becomes zero.
func leaseMicros(lease time.Duration) int64 {
	return int64((lease + time.Microsecond - 1) / time.Microsecond)
}

// RenewLease extends the lease of an action that worker claimed to now() +
// lease. It succeeds only while the action is RUNNING and claimed by worker;
// otherwise the error wraps health.ErrLeaseLost (the action was reclaimed by
// another executor after the lease expired, or finished) or health.ErrNotFound
// (no such action). A lease that expired but was not reclaimed yet is still
// the worker's, and is renewed.
func (s *Store) RenewLease(ctx context.Context, id, worker string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("store: renew lease of action %q: lease %v is not positive", id, lease)
	}
	if !validActionID(id) {
		return fmt.Errorf("store: renew lease of action %q: %w", id, health.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE actions SET lease_until = now() + $4::bigint * interval '1 microsecond'
		WHERE id = $1 AND status = $2 AND claimed_by = $3`,
		id, string(health.ActionRunning), worker, leaseMicros(lease))
	if err != nil {
		return fmt.Errorf("store: renew lease of action %q for %q: %w", id, worker, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return s.notClaimed(ctx, "renew lease of", id, worker)
}

// notClaimed explains why an action is not RUNNING under worker's claim: the
// error wraps health.ErrNotFound, or health.ErrLeaseLost (and
// ErrActionFinished when the action has a terminal status).
func (s *Store) notClaimed(ctx context.Context, op, id, worker string) error {
	var (
		status    health.ActionStatus
		claimedBy string
	)
	err := s.pool.QueryRow(ctx, `SELECT status, COALESCE(claimed_by, '') FROM actions WHERE id = $1`, id).
		Scan(&status, &claimedBy)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("store: %s action %q: %w", op, id, health.ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: %s action %q for %q: %w", op, id, worker, err)
	case status.Terminal():
		return fmt.Errorf("store: %s action %q for %q: %w: %w (%s)", op, id, worker, health.ErrLeaseLost, ErrActionFinished, status)
	case claimedBy == "":
		return fmt.Errorf("store: %s action %q for %q: %w: it is %s and unclaimed", op, id, worker, health.ErrLeaseLost, status)
	default:
		return fmt.Errorf("store: %s action %q for %q: %w: it is %s, claimed by %q", op, id, worker, health.ErrLeaseLost, status, claimedBy)
	}
}

// FinishClaimedAction is FinishAction for the executor holding the claim: it
// finishes the action only while it is RUNNING and claimed by worker, so an
// executor whose lease expired and whose action was reclaimed cannot overwrite
// the outcome of the new claimer. Otherwise the error wraps
// health.ErrLeaseLost (and ErrActionFinished when the action already has a
// terminal status) or health.ErrNotFound.
func (s *Store) FinishClaimedAction(ctx context.Context, id, worker string, status health.ActionStatus, reason string) error {
	if !status.Terminal() {
		return fmt.Errorf("store: finish claimed action %q: status %q is not terminal (want SUCCEEDED, FAILED or CANCELLED)", id, status)
	}
	if !validActionID(id) {
		return fmt.Errorf("store: finish claimed action %q: %w", id, health.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE actions SET status = $3, reason = $4, updated_at = now(), finished_at = now()
		WHERE id = $1 AND claimed_by = $2 AND status = $5`,
		id, worker, string(status), reason, string(health.ActionRunning))
	if err != nil {
		return fmt.Errorf("store: finish claimed action %q for %q: %w", id, worker, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return s.notClaimed(ctx, "finish claimed", id, worker)
}

// FinishAction gives a READY or RUNNING action its terminal status (SUCCEEDED,
// FAILED or CANCELLED) and reason, whoever claimed it: for operators and
// tools. Executors finish their claims with FinishClaimedAction. The error
// wraps health.ErrNotFound when the action does not exist and
// ErrActionFinished when it already has a terminal status.
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

// NextLeaseExpiry returns how long until the earliest lease of a RUNNING
// action runs out, by the database's clock (negative when one already has);
// ok is false when no action is RUNNING. Executors sleep until then, so that
// the action of an executor that died is taken over as soon as its lease
// runs out: nothing notifies that moment.
func (s *Store) NextLeaseExpiry(ctx context.Context) (d time.Duration, ok bool, err error) {
	var us *int64
	err = s.pool.QueryRow(ctx, `
		SELECT (EXTRACT(EPOCH FROM min(lease_until) - now()) * 1000000)::bigint
		FROM actions WHERE status = $1 AND lease_until IS NOT NULL`,
		string(health.ActionRunning)).Scan(&us)
	if err != nil {
		return 0, false, fmt.Errorf("store: next lease expiry: %w", err)
	}
	if us == nil {
		return 0, false, nil
	}
	return time.Duration(*us) * time.Microsecond, true, nil
}
