-- The region's message queue, the worker records, and role leases.
ALTER TABLE assigned_server_roles ADD COLUMN lease_expires_on TIMESTAMP;

CREATE TABLE queue_messages (
    id BIGSERIAL PRIMARY KEY,
    priority INTEGER NOT NULL DEFAULT 100,
    state TEXT NOT NULL DEFAULT 'ready',
    zone TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT '',
    queue_name TEXT NOT NULL DEFAULT 'generic',
    server_guid TEXT NOT NULL DEFAULT '',
    class_name TEXT NOT NULL,
    method_name TEXT NOT NULL,
    args TEXT NOT NULL DEFAULT '[]',
    instance_id BIGINT,
    target_id BIGINT,
    task_id TEXT NOT NULL DEFAULT '',
    deliver_on TIMESTAMP,
    msg_timeout INTEGER NOT NULL DEFAULT 600,
    created_on TIMESTAMP NOT NULL,
    dequeued_on TIMESTAMP,
    finished_on TIMESTAMP,
    handler_server TEXT NOT NULL DEFAULT '',
    handler_worker TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
-- Claiming walks this index in (priority, id) order and stops at the batch size.
CREATE INDEX queue_messages_claim ON queue_messages (queue_name, priority, id) WHERE state = 'ready';
-- At most one message of a task is being worked at a time, enforced by the database.
CREATE UNIQUE INDEX queue_messages_task_busy ON queue_messages (task_id) WHERE state = 'dequeue' AND task_id <> '';
-- Requeueing the messages of a dead server.
CREATE INDEX queue_messages_handler ON queue_messages (handler_server) WHERE state = 'dequeue';
-- put_unless_exists / put_or_update look-ups.
CREATE INDEX queue_messages_put ON queue_messages (class_name, method_name, queue_name, state);
-- Purging finished messages.
CREATE INDEX queue_messages_finished ON queue_messages (finished_on) WHERE state IN ('ok', 'error', 'timeout');

CREATE TABLE workers (
    id BIGSERIAL PRIMARY KEY,
    server_id BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    worker_type TEXT NOT NULL,
    slot INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_on TIMESTAMP,
    last_heartbeat TIMESTAMP,
    messages_done BIGINT NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0,
    last_exit_reason TEXT NOT NULL DEFAULT '',
    memory_bytes BIGINT NOT NULL DEFAULT 0,
    current_message_id BIGINT,
    UNIQUE (server_id, worker_type, slot)
);

CREATE TABLE diagnostic_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
