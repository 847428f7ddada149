-- Foundation: region, zones, servers and the server-role catalogue.
CREATE TABLE regions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    region INTEGER NOT NULL UNIQUE,
    guid TEXT NOT NULL,
    description TEXT NOT NULL,
    created_on TIMESTAMP NOT NULL
);

CREATE TABLE zones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_on TIMESTAMP NOT NULL
);

CREATE TABLE servers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    zone_id BIGINT NOT NULL REFERENCES zones (id),
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    started_on TIMESTAMP,
    stopped_on TIMESTAMP,
    last_heartbeat TIMESTAMP,
    memory_rss BIGINT NOT NULL DEFAULT 0,
    cpu_percent DOUBLE NOT NULL DEFAULT 0,
    is_master BOOLEAN NOT NULL DEFAULT FALSE,
    url TEXT NOT NULL DEFAULT ''
);

CREATE TABLE server_roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    scope TEXT NOT NULL,
    max_concurrent INTEGER NOT NULL
);

CREATE TABLE assigned_server_roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    server_role_id BIGINT NOT NULL REFERENCES server_roles (id),
    priority INTEGER NOT NULL DEFAULT 2,
    active BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (server_id, server_role_id)
);
