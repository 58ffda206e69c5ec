-- Retention deletes by age: indexes that let it find old rows without a
-- scan of the whole table.
CREATE INDEX IF NOT EXISTS health_events_at_idx ON health_events (at);
CREATE INDEX IF NOT EXISTS actions_finished_at_idx ON actions (finished_at) WHERE finished_at IS NOT NULL;
