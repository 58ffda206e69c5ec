DROP INDEX IF EXISTS actions_one_active_recover_per_node;
