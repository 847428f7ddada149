-- The queue table turns over constantly: vacuum it early and without throttling, so
-- the claim index does not fill with entries of finished messages.
ALTER TABLE queue_messages SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
