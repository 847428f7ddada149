DROP TABLE diagnostic_counters;
DROP TABLE workers;
DROP TABLE queue_messages;
ALTER TABLE assigned_server_roles DROP COLUMN lease_expires_on;
