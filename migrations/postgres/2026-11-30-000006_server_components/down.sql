ALTER TABLE servers DROP COLUMN memory_heap;
DROP TABLE server_components;
