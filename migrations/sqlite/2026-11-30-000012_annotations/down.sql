ALTER TABLE container_projects DROP COLUMN annotations;
ALTER TABLE container_nodes DROP COLUMN annotations;
ALTER TABLE container_groups DROP COLUMN annotations;
ALTER TABLE container_services DROP COLUMN annotations;
ALTER TABLE container_replicators DROP COLUMN annotations;
