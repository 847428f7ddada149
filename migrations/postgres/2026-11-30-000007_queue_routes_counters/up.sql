-- Claims read one route (queue, zone, role, server) at a time, in (priority, id)
-- order, so a backlog on a route nobody serves is never scanned by anyone else.
DROP INDEX queue_messages_claim;
CREATE INDEX queue_messages_route ON queue_messages (queue_name, zone, role, server_guid, priority, id) WHERE state = 'ready';
-- The oldest waiting message, for statistics, without a scan.
CREATE INDEX queue_messages_ready_age ON queue_messages (created_on) WHERE state = 'ready';

-- Counts of messages per state and route, maintained by statement triggers so that
-- statistics never count the table. Triggers only append to queue_counter_deltas
-- (no two transactions ever wait on each other for it); the master folds the deltas
-- into queue_counters every few seconds, and readers add both.
CREATE TABLE queue_counters (
    state TEXT NOT NULL,
    zone TEXT NOT NULL,
    role TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (state, zone, role, queue_name)
);
CREATE TABLE queue_counter_deltas (
    state TEXT NOT NULL,
    zone TEXT NOT NULL,
    role TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    n BIGINT NOT NULL
);
ALTER TABLE queue_counter_deltas SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);

CREATE FUNCTION queue_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counter_deltas (state, zone, role, queue_name, n)
    SELECT state, zone, role, queue_name, count(*) FROM new_rows GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;

CREATE FUNCTION queue_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counter_deltas (state, zone, role, queue_name, n)
    SELECT state, zone, role, queue_name, sum(n) FROM (
        SELECT state, zone, role, queue_name, 1 AS n FROM new_rows
        UNION ALL
        SELECT state, zone, role, queue_name, -1 AS n FROM old_rows
    ) AS changes
    GROUP BY 1, 2, 3, 4
    HAVING sum(n) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION queue_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counter_deltas (state, zone, role, queue_name, n)
    SELECT state, zone, role, queue_name, -count(*) FROM old_rows GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;

CREATE TRIGGER queue_counts_inserted AFTER INSERT ON queue_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_counts_inserted();
CREATE TRIGGER queue_counts_updated AFTER UPDATE ON queue_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_counts_updated();
CREATE TRIGGER queue_counts_deleted AFTER DELETE ON queue_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_counts_deleted();

INSERT INTO queue_counters (state, zone, role, queue_name, n)
SELECT state, zone, role, queue_name, count(*) FROM queue_messages GROUP BY 1, 2, 3, 4;
