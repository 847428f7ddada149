ALTER TABLE providers DROP COLUMN protected;
