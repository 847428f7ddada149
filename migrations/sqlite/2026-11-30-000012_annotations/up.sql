-- Annotations beside labels, as JSON text that `json_extract` reads
-- (`filter[]=annotations.<key> = "value"`). Existing rows get `{}` and are filled in by
-- the next refresh (their content hash changes).
ALTER TABLE container_projects ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_nodes ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_groups ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_services ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_replicators ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
