ALTER TABLE region_keys DROP COLUMN retired_on;
