DROP INDEX IF EXISTS actions_finished_at_idx;
DROP INDEX IF EXISTS health_events_at_idx;
