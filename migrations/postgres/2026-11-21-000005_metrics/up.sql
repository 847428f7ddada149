-- Capacity & utilization. Realtime samples live in `metrics`, partitioned by hour:
-- purging an hour drops its partition. Partitions are created by the collector before
-- it writes into an hour (metrics_pYYYYMMDDHH).
CREATE TABLE metrics (
    resource_type TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    provider_id BIGINT NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    capture_interval INTEGER NOT NULL,
    cpu_usage_rate_average DOUBLE PRECISION,
    cpu_usage_cores DOUBLE PRECISION,
    mem_usage_absolute_average DOUBLE PRECISION,
    mem_usage_bytes DOUBLE PRECISION,
    net_usage_rate_average DOUBLE PRECISION,
    disk_usage_rate_average DOUBLE PRECISION,
    disk_used_bytes DOUBLE PRECISION,
    cpu_total_cores DOUBLE PRECISION,
    mem_total_bytes DOUBLE PRECISION,
    PRIMARY KEY (resource_type, resource_id, timestamp)
) PARTITION BY RANGE (timestamp);

-- Hourly and daily rollups, of objects and of their parents.
CREATE TABLE metric_rollups (
    resource_type TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    provider_id BIGINT NOT NULL,
    capture_interval_name TEXT NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    cpu_usage_rate_average DOUBLE PRECISION,
    cpu_usage_cores DOUBLE PRECISION,
    mem_usage_absolute_average DOUBLE PRECISION,
    mem_usage_bytes DOUBLE PRECISION,
    net_usage_rate_average DOUBLE PRECISION,
    disk_usage_rate_average DOUBLE PRECISION,
    disk_used_bytes DOUBLE PRECISION,
    cpu_total_cores DOUBLE PRECISION,
    mem_total_bytes DOUBLE PRECISION,
    samples BIGINT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, capture_interval_name, timestamp)
);
CREATE INDEX metric_rollups_by_time ON metric_rollups (capture_interval_name, timestamp);
CREATE INDEX metric_rollups_by_provider ON metric_rollups (provider_id, capture_interval_name, timestamp);

-- Per object: how far its samples go, whether a capture is queued, rows written.
CREATE TABLE metric_capture_states (
    resource_type TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    provider_id BIGINT NOT NULL,
    last_capture_on TIMESTAMP,
    queued_on TIMESTAMP,
    rows_written BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (resource_type, resource_id)
);
CREATE INDEX metric_capture_states_by_provider ON metric_capture_states (provider_id, resource_type);

ALTER TABLE providers ADD COLUMN metrics_status TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN metrics_status_message TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN last_metrics_success_on TIMESTAMP;
