BEGIN;

DROP TRIGGER IF EXISTS nodes_hypervisor_at ON nodes;
DROP TRIGGER IF EXISTS nodes_physical_status_at ON nodes;
DROP FUNCTION IF EXISTS nodes_stamp_hypervisor();
DROP FUNCTION IF EXISTS nodes_stamp_physical_status();
ALTER TABLE clusters DROP COLUMN IF EXISTS status_url;
ALTER TABLE nodes
    DROP COLUMN IF EXISTS hypervisor_at,
    DROP COLUMN IF EXISTS physical_status_at;

COMMIT;
