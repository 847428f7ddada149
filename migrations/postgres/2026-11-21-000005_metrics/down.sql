ALTER TABLE providers DROP COLUMN last_metrics_success_on;
ALTER TABLE providers DROP COLUMN metrics_status_message;
ALTER TABLE providers DROP COLUMN metrics_status;
DROP TABLE metric_capture_states;
DROP TABLE metric_rollups;
DROP TABLE metrics;
