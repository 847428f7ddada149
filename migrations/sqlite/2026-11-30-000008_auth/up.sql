-- Who may use the API, and what they may do: ManageIQ's model of tenants (a tree),
-- user roles (bundles of product features), groups (a role in a tenant, optionally
-- limited by filters) and users (members of groups, one of them current).
-- Rows of the defaults (root tenant, admin/operator/viewer roles and groups) are
-- created by the node at start, so their ids carry the region.
CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    parent_id BIGINT REFERENCES tenants (id) ON DELETE RESTRICT,
    created_on TIMESTAMP NOT NULL,
    UNIQUE (parent_id, name)
);

CREATE TABLE user_roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_on TIMESTAMP NOT NULL
);

CREATE TABLE user_role_features (
    role_id BIGINT NOT NULL REFERENCES user_roles (id) ON DELETE CASCADE,
    feature TEXT NOT NULL,
    PRIMARY KEY (role_id, feature)
);

CREATE TABLE user_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    role_id BIGINT NOT NULL REFERENCES user_roles (id) ON DELETE RESTRICT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
    -- ManageIQ's entitlement filters: {"managed": [[tag, …], …], "belongsto": [path, …]}.
    filters TEXT NOT NULL DEFAULT '{}',
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_on TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    userid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    -- argon2id PHC string; never returned by the API.
    password_hash TEXT NOT NULL,
    current_group_id BIGINT REFERENCES user_groups (id) ON DELETE SET NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_login_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL
);

CREATE TABLE user_group_memberships (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);

-- API tokens, stored as the SHA-256 of the token: a copy of the table logs nobody in.
CREATE TABLE auth_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT REFERENCES user_groups (id) ON DELETE CASCADE,
    ttl_seconds INTEGER NOT NULL,
    expires_on TIMESTAMP NOT NULL,
    created_on TIMESTAMP NOT NULL
);
CREATE INDEX auth_tokens_expiry ON auth_tokens (expires_on);

-- Every write through the API (and logins), who did it, from where, and how it ended.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_on TIMESTAMP NOT NULL,
    userid TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_created ON audit_events (created_on);
