-- Events (issue 13): what the providers' event catchers saw, stored by the event
-- handler with links to the inventory objects they concern (ManageIQ's event_streams).
-- One row per occurrence of a Kubernetes Event (its uid in ems_ref, its count in
-- event_count), except in a storm: identical events from one object beyond
-- events.storm_threshold a minute are folded into one row per storm (chain_id), whose
-- occurrences counts them.
CREATE TABLE event_streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type TEXT NOT NULL,
    source TEXT NOT NULL,
    provider_id BIGINT,
    ems_ref TEXT NOT NULL,
    event_count BIGINT NOT NULL,
    occurrences BIGINT NOT NULL,
    chain_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_name TEXT NOT NULL,
    target_ems_ref TEXT NOT NULL,
    container_namespace TEXT,
    container_project_id BIGINT,
    container_node_id BIGINT,
    container_node_name TEXT,
    container_group_id BIGINT,
    container_group_name TEXT,
    container_id BIGINT,
    container_name TEXT,
    container_replicator_id BIGINT,
    container_replicator_name TEXT,
    component TEXT NOT NULL,
    host TEXT NOT NULL,
    first_timestamp TIMESTAMP,
    timestamp TIMESTAMP NOT NULL,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL
);
-- An occurrence is stored once, whoever catches it again (a restart, a failover, a relist).
CREATE UNIQUE INDEX event_streams_occurrence ON event_streams (provider_id, ems_ref, event_count)
    WHERE chain_id = '';
CREATE INDEX event_streams_by_ref ON event_streams (provider_id, ems_ref);
CREATE UNIQUE INDEX event_streams_storm ON event_streams (provider_id, chain_id) WHERE chain_id <> '';
CREATE INDEX event_streams_by_time ON event_streams (timestamp);
CREATE INDEX event_streams_by_type ON event_streams (event_type, timestamp);
CREATE INDEX event_streams_by_group ON event_streams (container_group_id, timestamp);
CREATE INDEX event_streams_by_node ON event_streams (container_node_id, timestamp);
CREATE INDEX event_streams_by_project ON event_streams (container_project_id, timestamp);
CREATE INDEX event_streams_by_container ON event_streams (container_id, timestamp);
CREATE INDEX event_streams_by_replicator ON event_streams (container_replicator_id, timestamp);

-- Where each provider's event catcher resumes: the resourceVersion after the last
-- event it queued for the handler. Written after the queue put, so a restart or a
-- failover resumes without losing anything (the handler recognises what it saw twice).
CREATE TABLE event_positions (
    provider_id BIGINT PRIMARY KEY,
    resource_version TEXT NOT NULL,
    server_guid TEXT NOT NULL,
    events_caught BIGINT NOT NULL,
    events_folded BIGINT NOT NULL,
    relists BIGINT NOT NULL,
    updated_on TIMESTAMP NOT NULL
);
