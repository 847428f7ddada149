ALTER TABLE container_projects DROP COLUMN labels_jsonb;
ALTER TABLE container_nodes DROP COLUMN labels_jsonb;
ALTER TABLE container_groups DROP COLUMN labels_jsonb;
ALTER TABLE container_services DROP COLUMN labels_jsonb;
ALTER TABLE container_replicators DROP COLUMN labels_jsonb;
ALTER TABLE container_images DROP COLUMN labels_jsonb;
ALTER TABLE providers DROP COLUMN tenant_id;
