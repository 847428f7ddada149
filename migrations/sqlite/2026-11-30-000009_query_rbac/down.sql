ALTER TABLE providers DROP COLUMN tenant_id;
