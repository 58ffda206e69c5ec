-- Per-node detail of the polling rounds, kept in Postgres rather than in the
-- workflow's history: a healthy round then costs the same whatever the
-- cluster's size. node_checks holds only the nodes that are not plainly
-- healthy (a node without a row was healthy at its cluster's last check);
-- cluster_checks holds each cluster's last round.
BEGIN;

CREATE TABLE node_checks (
    cluster_id text NOT NULL,
    node_id    text NOT NULL,
    verdict    text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    -- since: when the node got this verdict.
    since      timestamptz NOT NULL,
    checked_at timestamptz NOT NULL,
    PRIMARY KEY (cluster_id, node_id)
);

CREATE TABLE cluster_checks (
    cluster_id text PRIMARY KEY,
    checked_at timestamptz NOT NULL,
    nodes      integer NOT NULL DEFAULT 0,
    healthy    integer NOT NULL DEFAULT 0,
    unhealthy  integer NOT NULL DEFAULT 0,
    unknown    integer NOT NULL DEFAULT 0,
    skipped    integer NOT NULL DEFAULT 0
);

COMMIT;
