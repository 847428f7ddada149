-- Providers belong to a tenant (NULL: the root tenant); users of a tenant see the
-- providers of their tenant and its descendants, and everything those own.
ALTER TABLE providers ADD COLUMN tenant_id BIGINT REFERENCES tenants (id) ON DELETE RESTRICT;

-- Labels as jsonb beside their text, kept by PostgreSQL itself, with a GIN index:
-- `filter[]=labels.app = "web"` is a containment query the index serves.
ALTER TABLE container_projects ADD COLUMN labels_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(labels, '') AS jsonb)) STORED;
CREATE INDEX container_projects_labels ON container_projects USING GIN (labels_jsonb jsonb_path_ops);
ALTER TABLE container_nodes ADD COLUMN labels_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(labels, '') AS jsonb)) STORED;
CREATE INDEX container_nodes_labels ON container_nodes USING GIN (labels_jsonb jsonb_path_ops);
ALTER TABLE container_groups ADD COLUMN labels_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(labels, '') AS jsonb)) STORED;
CREATE INDEX container_groups_labels ON container_groups USING GIN (labels_jsonb jsonb_path_ops);
ALTER TABLE container_services ADD COLUMN labels_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(labels, '') AS jsonb)) STORED;
CREATE INDEX container_services_labels ON container_services USING GIN (labels_jsonb jsonb_path_ops);
ALTER TABLE container_replicators ADD COLUMN labels_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(labels, '') AS jsonb)) STORED;
CREATE INDEX container_replicators_labels ON container_replicators USING GIN (labels_jsonb jsonb_path_ops);
ALTER TABLE container_images ADD COLUMN labels_jsonb jsonb GENERATED ALWAYS AS (CAST(NULLIF(labels, '') AS jsonb)) STORED;
CREATE INDEX container_images_labels ON container_images USING GIN (labels_jsonb jsonb_path_ops);
