-- The rows still in their cluster, by provider: counts of a collection (everything, or
-- the providers a user may see) read this narrow index instead of the table. (Not on
-- SQLite: without statistics its planner takes it over a user's project index.)
CREATE INDEX container_projects_live ON container_projects (provider_id) WHERE deleted_on IS NULL;
CREATE INDEX container_nodes_live ON container_nodes (provider_id) WHERE deleted_on IS NULL;
CREATE INDEX container_image_registries_live ON container_image_registries (provider_id) WHERE deleted_on IS NULL;
CREATE INDEX container_images_live ON container_images (provider_id) WHERE deleted_on IS NULL;
CREATE INDEX container_replicators_live ON container_replicators (provider_id) WHERE deleted_on IS NULL;
CREATE INDEX container_services_live ON container_services (provider_id) WHERE deleted_on IS NULL;
CREATE INDEX container_groups_live ON container_groups (provider_id) WHERE deleted_on IS NULL;
CREATE INDEX containers_live ON containers (provider_id) WHERE deleted_on IS NULL;
