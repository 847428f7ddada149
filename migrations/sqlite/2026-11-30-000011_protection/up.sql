-- Write protection: a protected provider cannot be removed (by the API, the CLI or a
-- bulk action) until it is unprotected.
ALTER TABLE providers ADD COLUMN protected BOOLEAN NOT NULL DEFAULT 0;
