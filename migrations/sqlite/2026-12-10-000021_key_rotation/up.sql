-- Key rotation: the region's current key is its row without retired_on; `steward keys
-- rotate` retires it and records the next one (ciphertexts name their key's id).
ALTER TABLE region_keys ADD COLUMN retired_on TIMESTAMP;
