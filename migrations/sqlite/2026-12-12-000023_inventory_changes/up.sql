-- The inventory's change log, tailed by every node's live feed (the `inventory` topic of
-- GET /ws): one row per save step and collection that wrote something, in the step's own
-- transaction. Ids are
-- comma-separated; a step that changed more than the save lists keeps only the counts.
-- Rows older than websocket.change_retention are purged by the nodes.
CREATE TABLE inventory_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL,
    collection TEXT NOT NULL,
    num_created BIGINT NOT NULL,
    num_updated BIGINT NOT NULL,
    num_deleted BIGINT NOT NULL,
    created_ids TEXT NOT NULL,
    updated_ids TEXT NOT NULL,
    deleted_ids TEXT NOT NULL,
    created_on TIMESTAMP NOT NULL
);
CREATE INDEX inventory_changes_by_age ON inventory_changes (created_on);
