-- Status freshness: NODE_STATUS_POLLING and HYPERVISOR_STATUS_POLLING judge
-- what the engine last observed of a node's resource and hypervisor. These
-- columns record when it did, so that a value nobody refreshes any more is
-- reported unknown instead of healthy.
BEGIN;

ALTER TABLE nodes
    -- When physical_status was last written; NULL while it is empty.
    ADD COLUMN physical_status_at timestamptz,
    -- When hypervisor_state or hypervisor_status was last written; NULL while
    -- both are empty.
    ADD COLUMN hypervisor_at      timestamptz;

-- Rows written before this migration keep NULL times: nothing recorded when
-- their values were observed, and in most deployments nothing was refreshing
-- them. They are reported unknown until the engine writes them again.

-- The reference engine's status source of the cluster: an HTTP URL that
-- answers {"nodes": [{"name": ..., "physical_status": ..., ...}]}.
ALTER TABLE clusters ADD COLUMN status_url text;

-- Every write of physical_status stamps physical_status_at with the time of
-- the write, even when the value does not change: a write is an observation.
-- A writer that sets physical_status_at itself in the same statement, to a
-- value other than the stored one, keeps its own time. An empty value has no
-- time.
CREATE FUNCTION nodes_stamp_physical_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.physical_status_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.physical_status_at IS DISTINCT FROM OLD.physical_status_at THEN
        RETURN NEW;
    END IF;
    IF COALESCE(NEW.physical_status, '') = '' THEN
        NEW.physical_status_at := NULL;
    ELSE
        NEW.physical_status_at := now();
    END IF;
    RETURN NEW;
END;
$$;

-- The same for the hypervisor columns and hypervisor_at.
CREATE FUNCTION nodes_stamp_hypervisor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.hypervisor_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.hypervisor_at IS DISTINCT FROM OLD.hypervisor_at THEN
        RETURN NEW;
    END IF;
    IF COALESCE(NEW.hypervisor_state, '') = '' AND COALESCE(NEW.hypervisor_status, '') = '' THEN
        NEW.hypervisor_at := NULL;
    ELSE
        NEW.hypervisor_at := now();
    END IF;
    RETURN NEW;
END;
$$;

-- UPDATE OF fires whenever the column is a target of the UPDATE (including
-- INSERT ... ON CONFLICT DO UPDATE SET), whether or not its value changes.
CREATE TRIGGER nodes_physical_status_at
    BEFORE INSERT OR UPDATE OF physical_status ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_stamp_physical_status();

CREATE TRIGGER nodes_hypervisor_at
    BEFORE INSERT OR UPDATE OF hypervisor_state, hypervisor_status ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_stamp_hypervisor();

COMMIT;
