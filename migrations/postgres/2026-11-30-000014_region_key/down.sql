DROP TABLE region_keys;
