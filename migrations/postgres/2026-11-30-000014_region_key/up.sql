-- The key that encrypts the region's credentials, recorded once by the first node that
-- starts: its public id and a check value only that key produces. A node or CLI with
-- another key refuses to start or to write instead of encrypting beside it.
CREATE TABLE region_keys (
    id BIGSERIAL PRIMARY KEY,
    key_id TEXT NOT NULL,
    check_value TEXT NOT NULL,
    created_on TIMESTAMP NOT NULL
);
