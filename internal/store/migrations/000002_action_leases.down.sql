BEGIN;

DROP INDEX IF EXISTS actions_running_lease_until_idx;
ALTER TABLE actions
    DROP COLUMN IF EXISTS abandoned_by,
    DROP COLUMN IF EXISTS attempts,
    DROP COLUMN IF EXISTS lease_until;

COMMIT;
