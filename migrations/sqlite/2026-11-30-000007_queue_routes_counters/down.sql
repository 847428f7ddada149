DROP TRIGGER queue_counts_inserted;
DROP TRIGGER queue_counts_updated;
DROP TRIGGER queue_counts_deleted;
DROP TABLE queue_counter_deltas;
DROP TABLE queue_counters;
DROP INDEX queue_messages_ready_age;
DROP INDEX queue_messages_route;
CREATE INDEX queue_messages_claim ON queue_messages (queue_name, priority, id) WHERE state = 'ready';
