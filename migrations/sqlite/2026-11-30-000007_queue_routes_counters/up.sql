-- Claims read one route (queue, zone, role, server) at a time, in (priority, id)
-- order, so a backlog on a route nobody serves is never scanned by anyone else.
DROP INDEX queue_messages_claim;
CREATE INDEX queue_messages_route ON queue_messages (queue_name, zone, role, server_guid, priority, id) WHERE state = 'ready';
-- The oldest waiting message, for statistics, without a scan.
CREATE INDEX queue_messages_ready_age ON queue_messages (created_on) WHERE state = 'ready';

-- Counts of messages per state and route, so that statistics never count the table.
-- The triggers only append to queue_counter_deltas — one row per inserted or deleted
-- message, one per message moved to another state — which costs a fraction of updating
-- a counter row in place for every message; the master folds the deltas into
-- queue_counters every few seconds, and readers add both.
CREATE TABLE queue_counters (
    state TEXT NOT NULL,
    zone TEXT NOT NULL,
    role TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (state, zone, role, queue_name)
) WITHOUT ROWID;
CREATE TABLE queue_counter_deltas (
    state TEXT NOT NULL,
    zone TEXT NOT NULL,
    role TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    n BIGINT NOT NULL
);

CREATE TRIGGER queue_counts_inserted AFTER INSERT ON queue_messages BEGIN
    INSERT INTO queue_counter_deltas (state, zone, role, queue_name, n)
        VALUES (NEW.state, NEW.zone, NEW.role, NEW.queue_name, 1);
END;

CREATE TRIGGER queue_counts_updated AFTER UPDATE OF state, zone, role, queue_name ON queue_messages
WHEN OLD.state IS NOT NEW.state OR OLD.zone IS NOT NEW.zone OR OLD.role IS NOT NEW.role
    OR OLD.queue_name IS NOT NEW.queue_name
BEGIN
    INSERT INTO queue_counter_deltas (state, zone, role, queue_name, n)
        VALUES (OLD.state, OLD.zone, OLD.role, OLD.queue_name, -1),
               (NEW.state, NEW.zone, NEW.role, NEW.queue_name, 1);
END;

CREATE TRIGGER queue_counts_deleted AFTER DELETE ON queue_messages BEGIN
    INSERT INTO queue_counter_deltas (state, zone, role, queue_name, n)
        VALUES (OLD.state, OLD.zone, OLD.role, OLD.queue_name, -1);
END;

INSERT INTO queue_counters (state, zone, role, queue_name, n)
SELECT state, zone, role, queue_name, count(*) FROM queue_messages GROUP BY 1, 2, 3, 4;
