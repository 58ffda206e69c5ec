-- At most one active NODE_RECOVER action per node. A second request for a node
-- whose recovery still runs (a wait that timed out, a redelivered event, an
-- operator) must join the running action, not start another one (Senlin F-19).
BEGIN;

-- Rows written before this rule: keep the oldest active action of each node
-- and cancel the others, saying why.
UPDATE actions a
SET status = 'CANCELLED',
    reason = 'superseded: another recovery of this node was already active',
    updated_at = now(),
    finished_at = now()
WHERE a.action = 'NODE_RECOVER'
  AND a.status IN ('READY', 'RUNNING')
  AND EXISTS (
    SELECT 1 FROM actions b
    WHERE b.action = 'NODE_RECOVER'
      AND b.status IN ('READY', 'RUNNING')
      AND b.cluster_id = a.cluster_id
      AND b.node_id = a.node_id
      AND (b.created_at, b.id) < (a.created_at, a.id)
  );

CREATE UNIQUE INDEX actions_one_active_recover_per_node
    ON actions (cluster_id, node_id)
    WHERE action = 'NODE_RECOVER' AND status IN ('READY', 'RUNNING');

COMMIT;
