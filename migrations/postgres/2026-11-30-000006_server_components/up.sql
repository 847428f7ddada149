-- The supervised components of each server (heartbeat, dispatcher, completion writer,
-- LISTEN thread, queue upkeep, metrics coordinator, refresh manager): status,
-- restarts and the last failure, for `steward status` and the API.
CREATE TABLE server_components (
    id BIGSERIAL PRIMARY KEY,
    server_id BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_on TIMESTAMP,
    restarts INTEGER NOT NULL DEFAULT 0,
    last_exit_reason TEXT NOT NULL DEFAULT '',
    last_exit_on TIMESTAMP,
    UNIQUE (server_id, name)
);

-- Heap allocated through Rust and still live (the accounting allocator's total), beside
-- the RSS: RSS far above it is memory the allocator keeps or C libraries hold.
ALTER TABLE servers ADD COLUMN memory_heap BIGINT NOT NULL DEFAULT 0;
