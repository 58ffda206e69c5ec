package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/clusterhealth/healthd/internal/health"
)

// codeForeignKeyViolation is the Postgres error code of a reference to a
// missing row; UpsertNode maps it to health.ErrNotFound.
const codeForeignKeyViolation = "23503"

const clusterColumns = `id, name, project, "user", profile_type, COALESCE(recover_webhook, ''),
	COALESCE(status_url, ''), members`

func scanCluster(row pgx.Row) (health.Cluster, error) {
	var c health.Cluster
	err := row.Scan(&c.ID, &c.Name, &c.Project, &c.User, &c.ProfileType, &c.RecoverWebhook, &c.StatusURL, &c.Members)
	return c, err
}

// GetCluster returns the cluster; the error wraps health.ErrNotFound when it
// does not exist.
func (s *Store) GetCluster(ctx context.Context, id string) (health.Cluster, error) {
	c, err := scanCluster(s.pool.QueryRow(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return health.Cluster{}, fmt.Errorf("store: get cluster %q: %w", id, health.ErrNotFound)
	}
	if err != nil {
		return health.Cluster{}, fmt.Errorf("store: get cluster %q: %w", id, err)
	}
	return c, nil
}

// UpsertCluster creates the cluster or overwrites every field of an existing
// one.
func (s *Store) UpsertCluster(ctx context.Context, c health.Cluster) error {
	if c.ID == "" {
		return errors.New("store: upsert cluster: empty cluster id")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO clusters (id, name, project, "user", profile_type, recover_webhook, status_url, members)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8)
		ON CONFLICT (id) DO UPDATE SET
			name = EXCLUDED.name,
			project = EXCLUDED.project,
			"user" = EXCLUDED."user",
			profile_type = EXCLUDED.profile_type,
			recover_webhook = EXCLUDED.recover_webhook,
			status_url = EXCLUDED.status_url,
			members = EXCLUDED.members,
			updated_at = now()`,
		c.ID, c.Name, c.Project, c.User, c.ProfileType, c.RecoverWebhook, c.StatusURL, c.Members)
	if err != nil {
		return fmt.Errorf("store: upsert cluster %q: %w", c.ID, err)
	}
	return nil
}

// ListStatusClusters returns every cluster with a status URL, ordered by id:
// the clusters whose node status the reference engine refreshes.
func (s *Store) ListStatusClusters(ctx context.Context) ([]health.Cluster, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+clusterColumns+` FROM clusters WHERE COALESCE(status_url, '') <> '' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list clusters with a status url: %w", err)
	}
	clusters, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.Cluster, error) {
		return scanCluster(r)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list clusters with a status url: %w", err)
	}
	return clusters, nil
}

// ListClustersByProfile returns the clusters whose profile type starts with
// prefix (os.nova.server: the clusters of Nova servers), ordered by id.
func (s *Store) ListClustersByProfile(ctx context.Context, prefix string) ([]health.Cluster, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+clusterColumns+` FROM clusters WHERE starts_with(profile_type, $1) ORDER BY id`, prefix)
	if err != nil {
		return nil, fmt.Errorf("store: list clusters of profile %s: %w", prefix, err)
	}
	clusters, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.Cluster, error) {
		return scanCluster(r)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list clusters of profile %s: %w", prefix, err)
	}
	return clusters, nil
}

// DeleteNode deletes a node of the cluster (a node of another cluster is
// left alone). Its actions and health events stay. The error wraps
// health.ErrNotFound when the cluster has no such node.
func (s *Store) DeleteNode(ctx context.Context, clusterID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM nodes WHERE id = $1 AND cluster_id = $2`, id, clusterID)
	if err != nil {
		return fmt.Errorf("store: delete node %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete node %q of cluster %q: %w", id, clusterID, health.ErrNotFound)
	}
	return nil
}

// DeleteCluster deletes the cluster and, by cascade, its nodes. Actions and
// health events stay: they are the record of what happened. The error wraps
// health.ErrNotFound when the cluster does not exist.
func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM clusters WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete cluster %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete cluster %q: %w", id, health.ErrNotFound)
	}
	return nil
}

const nodeColumns = `id, cluster_id, name, COALESCE(physical_id, ''), status,
	COALESCE(status_reason, ''), init_at, updated_at, COALESCE(physical_status, ''),
	COALESCE(hypervisor_state, ''), COALESCE(hypervisor_status, ''),
	physical_status_at, hypervisor_at`

func scanNode(row pgx.Row) (health.Node, error) {
	var (
		n                         health.Node
		updated, physical, hyperv *time.Time
	)
	err := row.Scan(&n.ID, &n.ClusterID, &n.Name, &n.PhysicalID, &n.Status,
		&n.StatusReason, &n.InitAt, &updated, &n.PhysicalStatus,
		&n.HypervisorState, &n.HypervisorStatus, &physical, &hyperv)
	if err != nil {
		return health.Node{}, err
	}
	n.InitAt = n.InitAt.UTC()
	n.UpdatedAt = utcOrZero(updated)
	n.PhysicalStatusAt = utcOrZero(physical)
	n.HypervisorAt = utcOrZero(hyperv)
	return n, nil
}

// utcOrZero maps SQL NULL to the zero time and any other time to UTC.
func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// ListNodes returns every node of the cluster, whatever its status, ordered by
// name then id. A cluster without nodes, or an unknown one, gives an empty list.
func (s *Store) ListNodes(ctx context.Context, clusterID string) ([]health.Node, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+nodeColumns+` FROM nodes WHERE cluster_id = $1 ORDER BY name, id`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("store: list nodes of cluster %q: %w", clusterID, err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (health.Node, error) {
		return scanNode(r)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list nodes of cluster %q: %w", clusterID, err)
	}
	return nodes, nil
}

// MemberNodes returns those of ids that are nodes of the cluster, in no
// particular order: one statement, whatever the cluster's size.
func (s *Store) MemberNodes(ctx context.Context, clusterID string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM nodes WHERE cluster_id = $1 AND id = ANY($2)`, clusterID, ids)
	if err != nil {
		return nil, fmt.Errorf("store: member nodes of cluster %q: %w", clusterID, err)
	}
	members, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: member nodes of cluster %q: %w", clusterID, err)
	}
	return members, nil
}

// GetNode returns the node; the error wraps health.ErrNotFound when it does
// not exist.
func (s *Store) GetNode(ctx context.Context, id string) (health.Node, error) {
	n, err := scanNode(s.pool.QueryRow(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return health.Node{}, fmt.Errorf("store: get node %q: %w", id, health.ErrNotFound)
	}
	if err != nil {
		return health.Node{}, fmt.Errorf("store: get node %q: %w", id, err)
	}
	return n, nil
}

// UpsertNode creates the node or overwrites every field of an existing one.
// A zero UpdatedAt is stored as NULL (the node never left its first status).
// A zero InitAt means now() for a new node and keeps the stored value of an
// existing one. An empty Status means INIT. Writing the physical status and
// hypervisor columns is an observation: a zero PhysicalStatusAt or
// HypervisorAt (or one equal to the stored time) becomes now(), stamped by
// the database, and an empty value has no time. The error wraps
// health.ErrNotFound when the node's cluster does not exist.
func (s *Store) UpsertNode(ctx context.Context, n health.Node) error {
	if n.ID == "" {
		return errors.New("store: upsert node: empty node id")
	}
	status := n.Status
	if status == "" {
		status = health.NodeInit
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO nodes (id, cluster_id, name, physical_id, status, status_reason,
			init_at, updated_at, physical_status, hypervisor_state, hypervisor_status,
			physical_status_at, hypervisor_at)
		VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET
			cluster_id = EXCLUDED.cluster_id,
			name = EXCLUDED.name,
			physical_id = EXCLUDED.physical_id,
			status = EXCLUDED.status,
			status_reason = EXCLUDED.status_reason,
			init_at = COALESCE($7, nodes.init_at),
			updated_at = EXCLUDED.updated_at,
			physical_status = EXCLUDED.physical_status,
			hypervisor_state = EXCLUDED.hypervisor_state,
			hypervisor_status = EXCLUDED.hypervisor_status,
			physical_status_at = EXCLUDED.physical_status_at,
			hypervisor_at = EXCLUDED.hypervisor_at`,
		n.ID, n.ClusterID, n.Name, n.PhysicalID, string(status), n.StatusReason,
		nullTime(n.InitAt), nullTime(n.UpdatedAt), n.PhysicalStatus,
		n.HypervisorState, n.HypervisorStatus, nullTime(n.PhysicalStatusAt), nullTime(n.HypervisorAt))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeForeignKeyViolation {
		return fmt.Errorf("store: upsert node %q: cluster %q: %w", n.ID, n.ClusterID, health.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: upsert node %q: %w", n.ID, err)
	}
	return nil
}

// refreshesUpdatedAt reports whether moving a node into status sets its
// updated_at to now. Senlin's Node.set_status refreshes it on every
// transition except into CREATING, UPDATING, RECOVERING and OPERATING, so the
// grace period of a node in one of those runs from its last settled status.
func refreshesUpdatedAt(status health.NodeStatus) bool {
	switch status {
	case health.NodeCreating, health.NodeUpdating, health.NodeRecovering, health.NodeOperating:
		return false
	}
	return true
}

// SetNodeStatus moves the node into status with reason, applying Senlin's
// timestamp rule: updated_at becomes now() on every transition except into
// CREATING, UPDATING, RECOVERING and OPERATING. The error wraps
// health.ErrNotFound when the node does not exist.
func (s *Store) SetNodeStatus(ctx context.Context, nodeID string, status health.NodeStatus, reason string) error {
	if status == "" {
		return fmt.Errorf("store: set status of node %q: empty status", nodeID)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE nodes SET
			status = $2,
			status_reason = $3,
			updated_at = CASE WHEN $4::boolean THEN now() ELSE updated_at END
		WHERE id = $1`,
		nodeID, string(status), reason, refreshesUpdatedAt(status))
	if err != nil {
		return fmt.Errorf("store: set status of node %q: %w", nodeID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: set status of node %q: %w", nodeID, health.ErrNotFound)
	}
	return nil
}

// SetNodeResource points an existing node of the cluster at another
// backing resource, or renames it, as an engine does when it finds the
// node's resource replaced (a RECREATE made a new server). The node's
// status, its reason and its times are left as they are: a recovery that
// ends meanwhile writes them, and a node read before must not overwrite
// them. What was observed of the old resource is cleared, unknown until the
// engine observes the new one. The error wraps health.ErrNotFound when the
// cluster has no such node.
func (s *Store) SetNodeResource(ctx context.Context, clusterID, nodeID, name, physicalID string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE nodes SET name = $3, physical_id = $4,
			physical_status = '', hypervisor_state = '', hypervisor_status = ''
		WHERE cluster_id = $1 AND id = $2`, clusterID, nodeID, name, physicalID)
	if err != nil {
		return fmt.Errorf("store: set resource of node %q: %w", nodeID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: set resource of node %q of cluster %q: %w", nodeID, clusterID, health.ErrNotFound)
	}
	return nil
}

// SetNodePhysicalStatus records what the engine last observed of the node's
// backing resource; the database stamps physical_status_at with the time of
// the write. It is not a status transition: updated_at is unchanged. The
// error wraps health.ErrNotFound when the node does not exist.
func (s *Store) SetNodePhysicalStatus(ctx context.Context, nodeID, physicalStatus string) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE nodes SET physical_status = $2 WHERE id = $1`, nodeID, physicalStatus)
	if err != nil {
		return fmt.Errorf("store: set physical status of node %q: %w", nodeID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: set physical status of node %q: %w", nodeID, health.ErrNotFound)
	}
	return nil
}

// SetObservedStatus records, in one statement, what the engine observed of
// the cluster's nodes: each observation overwrites the physical status and
// hypervisor columns of the nodes it names (by name, or by physical id when
// it has no name), and physical_status_at and hypervisor_at become at, when
// the engine began to observe, by the database's clock (Now); a zero at
// stamps the time of the write. An observation that began before a node's
// last status change (the end of a recovery) is thus older than it, and
// judged stale (health.CheckHypervisor), however late it is written. Nodes
// no observation names are left alone, so their values age. Observations
// that name no node are ignored. It returns how many nodes it updated; a
// cluster without nodes, or an unknown one, gives 0.
func (s *Store) SetObservedStatus(ctx context.Context, clusterID string, obs []health.ObservedStatus, at time.Time) (int, error) {
	if clusterID == "" {
		return 0, errors.New("store: set observed status: empty cluster id")
	}
	var names, physicalIDs, physical, hvState, hvStatus []string
	for _, o := range obs {
		if o.Name == "" && o.PhysicalID == "" {
			continue
		}
		names = append(names, o.Name)
		physicalIDs = append(physicalIDs, o.PhysicalID)
		physical = append(physical, o.PhysicalStatus)
		hvState = append(hvState, o.HypervisorState)
		hvStatus = append(hvStatus, o.HypervisorStatus)
	}
	if len(names) == 0 {
		return 0, nil
	}
	// A node named twice is updated once, from either observation (UPDATE ...
	// FROM takes one joined row per target row).
	tag, err := s.pool.Exec(ctx, `
		UPDATE nodes AS n SET
			physical_status = v.physical_status,
			hypervisor_state = v.hypervisor_state,
			hypervisor_status = v.hypervisor_status,
			-- Left as stored, the triggers stamp the time of the write (or
			-- NULL for an empty value).
			physical_status_at = CASE WHEN $7::timestamptz IS NULL OR v.physical_status = ''
				THEN n.physical_status_at ELSE $7 END,
			hypervisor_at = CASE WHEN $7::timestamptz IS NULL OR (v.hypervisor_state = '' AND v.hypervisor_status = '')
				THEN n.hypervisor_at ELSE $7 END
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
			AS v(name, physical_id, physical_status, hypervisor_state, hypervisor_status)
		WHERE n.cluster_id = $1
			AND CASE WHEN v.name <> '' THEN n.name = v.name ELSE n.physical_id = v.physical_id END`,
		clusterID, names, physicalIDs, physical, hvState, hvStatus, nullTime(at))
	if err != nil {
		return 0, fmt.Errorf("store: set observed status of cluster %q: %w", clusterID, err)
	}
	return int(tag.RowsAffected()), nil
}

// Now is the database's clock: the one that stamps status changes
// (updated_at) and observations. An engine reads it before it observes, and
// passes it to SetObservedStatus.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	var t time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("store: read the database's clock: %w", err)
	}
	return t, nil
}

// nullTime maps the zero time to SQL NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
