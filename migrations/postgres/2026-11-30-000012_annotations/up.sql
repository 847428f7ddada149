-- Annotations beside labels: JSON text as written, and jsonb kept by PostgreSQL with a
-- GIN index, like labels_jsonb (`filter[]=annotations.<key> = "value"` is containment).
-- Existing rows get '{}' and are filled in by the next refresh (their content hash changes).
ALTER TABLE container_projects ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_projects ADD COLUMN annotations_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(annotations, '') AS jsonb)) STORED;
CREATE INDEX container_projects_annotations ON container_projects USING GIN (annotations_jsonb jsonb_path_ops);
ALTER TABLE container_nodes ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_nodes ADD COLUMN annotations_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(annotations, '') AS jsonb)) STORED;
CREATE INDEX container_nodes_annotations ON container_nodes USING GIN (annotations_jsonb jsonb_path_ops);
ALTER TABLE container_groups ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_groups ADD COLUMN annotations_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(annotations, '') AS jsonb)) STORED;
CREATE INDEX container_groups_annotations ON container_groups USING GIN (annotations_jsonb jsonb_path_ops);
ALTER TABLE container_services ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_services ADD COLUMN annotations_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(annotations, '') AS jsonb)) STORED;
CREATE INDEX container_services_annotations ON container_services USING GIN (annotations_jsonb jsonb_path_ops);
ALTER TABLE container_replicators ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';
ALTER TABLE container_replicators ADD COLUMN annotations_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(annotations, '') AS jsonb)) STORED;
CREATE INDEX container_replicators_annotations ON container_replicators USING GIN (annotations_jsonb jsonb_path_ops);
