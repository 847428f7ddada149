-- Providers belong to a tenant (NULL: the root tenant); users of a tenant see the
-- providers of their tenant and its descendants, and everything those own.
-- (Labels stay JSON text on SQLite, read with json_extract.)
ALTER TABLE providers ADD COLUMN tenant_id BIGINT REFERENCES tenants (id) ON DELETE RESTRICT;
