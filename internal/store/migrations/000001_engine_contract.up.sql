-- The engine contract: what an engine writes (clusters, nodes), what this
-- project asks of it (actions) and the durable incident timeline (health_events).
BEGIN;

CREATE TABLE clusters (
    id              text PRIMARY KEY,
    name            text NOT NULL DEFAULT '',
    project         text NOT NULL DEFAULT '',
    "user"          text NOT NULL DEFAULT '',
    profile_type    text NOT NULL DEFAULT '',
    recover_webhook text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE nodes (
    id                text PRIMARY KEY,
    cluster_id        text NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    name              text NOT NULL DEFAULT '',
    physical_id       text,
    status            text NOT NULL DEFAULT 'INIT',
    status_reason     text,
    init_at           timestamptz NOT NULL DEFAULT now(),
    -- NULL while the node never left its first status (Senlin's rule).
    updated_at        timestamptz NULL,
    physical_status   text,
    hypervisor_state  text,
    hypervisor_status text
);

CREATE INDEX nodes_cluster_id_idx ON nodes (cluster_id);

-- Actions keep no foreign keys: a recovery record outlives its node and cluster.
CREATE TABLE actions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key text NOT NULL UNIQUE,
    cluster_id      text NOT NULL,
    node_id         text NOT NULL,
    action          text NOT NULL DEFAULT 'NODE_RECOVER',
    params          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status          text NOT NULL DEFAULT 'READY'
                    CHECK (status IN ('READY', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    reason          text,
    claimed_by      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

-- Executors claim the oldest READY action.
CREATE INDEX actions_status_created_at_idx ON actions (status, created_at);
CREATE INDEX actions_cluster_id_idx ON actions (cluster_id, created_at);

-- Waiters and executors LISTEN on health_actions; the payload is the action id.
CREATE FUNCTION health_actions_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('health_actions', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER actions_notify_insert
    AFTER INSERT ON actions
    FOR EACH ROW EXECUTE FUNCTION health_actions_notify();

CREATE TRIGGER actions_notify_status
    AFTER UPDATE OF status ON actions
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION health_actions_notify();

CREATE TABLE health_events (
    id           bigserial PRIMARY KEY,
    cluster_id   text NOT NULL,
    node_id      text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL DEFAULT now(),
    from_verdict text NOT NULL DEFAULT '',
    to_verdict   text NOT NULL DEFAULT '',
    reason       text,
    action_id    text
);

CREATE INDEX health_events_cluster_id_at_idx ON health_events (cluster_id, at);

COMMIT;
