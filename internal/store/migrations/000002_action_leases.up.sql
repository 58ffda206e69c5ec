-- Action leases: a claim holds only while its executor renews it, so an
-- action whose executor died (crash, kill -9) is reclaimed instead of staying
-- RUNNING forever.
BEGIN;

ALTER TABLE actions
    -- When the current claim expires unless renewed; NULL while never claimed.
    ADD COLUMN lease_until  timestamptz,
    -- Claims so far: more than one means the action was reclaimed.
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0,
    -- The claimer whose expired lease the last reclaim took over.
    ADD COLUMN abandoned_by text;

-- Claims made before leases existed count once. A RUNNING one keeps its
-- executor five minutes from its claim (executors of the previous version
-- never renew), then becomes reclaimable like any expired lease.
UPDATE actions SET attempts = 1 WHERE claimed_by IS NOT NULL;
UPDATE actions SET lease_until = updated_at + interval '5 minutes' WHERE status = 'RUNNING';

-- Executors look for RUNNING actions whose lease expired.
CREATE INDEX actions_running_lease_until_idx ON actions (lease_until) WHERE status = 'RUNNING';

COMMIT;
