-- Providers (the seed's EMS), their refresh history, and the container inventory.
CREATE TABLE providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    provider_type TEXT NOT NULL,
    zone_id BIGINT NOT NULL REFERENCES zones (id),
    api_url TEXT NOT NULL,
    -- `token` (the encrypted bearer token is in `credentials`) or `kubeconfig`
    -- (`kubeconfig_path` names the file; a token in it is read when connecting).
    auth_kind TEXT NOT NULL,
    credentials TEXT NOT NULL DEFAULT '',
    kubeconfig_path TEXT NOT NULL DEFAULT '',
    verify_tls BOOLEAN NOT NULL DEFAULT TRUE,
    ca_cert TEXT NOT NULL DEFAULT '',
    prometheus_url TEXT NOT NULL DEFAULT '',
    refresh_interval_s INTEGER,
    get_container_images BOOLEAN,
    store_unused_images BOOLEAN,
    status TEXT NOT NULL DEFAULT 'unknown',
    status_message TEXT NOT NULL DEFAULT '',
    last_refresh_on TIMESTAMP,
    last_refresh_success_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL
);

CREATE TABLE provider_refreshes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    started_on TIMESTAMP NOT NULL,
    collect_s DOUBLE NOT NULL DEFAULT 0,
    parse_s DOUBLE NOT NULL DEFAULT 0,
    save_s DOUBLE NOT NULL DEFAULT 0,
    total_s DOUBLE NOT NULL DEFAULT 0,
    objects BIGINT NOT NULL DEFAULT 0,
    added BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    deleted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX provider_refreshes_provider ON provider_refreshes (provider_id, id);

CREATE TABLE container_projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    phase TEXT NOT NULL DEFAULT '',
    creation_timestamp TIMESTAMP,
    resource_version TEXT NOT NULL DEFAULT '',
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);

CREATE TABLE container_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    ready_status TEXT NOT NULL DEFAULT '',
    kubelet_version TEXT NOT NULL DEFAULT '',
    os_image TEXT NOT NULL DEFAULT '',
    internal_ip TEXT NOT NULL DEFAULT '',
    cpu_cores DOUBLE NOT NULL DEFAULT 0,
    memory_bytes BIGINT NOT NULL DEFAULT 0,
    pods_capacity BIGINT NOT NULL DEFAULT 0,
    creation_timestamp TIMESTAMP,
    resource_version TEXT NOT NULL DEFAULT '',
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);

CREATE TABLE container_image_registries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    host TEXT NOT NULL,
    port TEXT NOT NULL DEFAULT '',
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);

CREATE TABLE container_images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    tag TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT '',
    image_ref TEXT NOT NULL DEFAULT '',
    container_image_registry_id BIGINT REFERENCES container_image_registries (id) ON DELETE SET NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    used BOOLEAN NOT NULL DEFAULT TRUE,
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);

CREATE TABLE container_replicators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    container_project_id BIGINT REFERENCES container_projects (id) ON DELETE SET NULL,
    parent_ems_ref TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    selector TEXT NOT NULL DEFAULT '{}',
    replicas BIGINT NOT NULL DEFAULT 0,
    ready_replicas BIGINT NOT NULL DEFAULT 0,
    creation_timestamp TIMESTAMP,
    resource_version TEXT NOT NULL DEFAULT '',
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);

CREATE TABLE container_services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    container_project_id BIGINT REFERENCES container_projects (id) ON DELETE SET NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    selector TEXT NOT NULL DEFAULT '{}',
    service_type TEXT NOT NULL DEFAULT '',
    cluster_ip TEXT NOT NULL DEFAULT '',
    ports TEXT NOT NULL DEFAULT '[]',
    creation_timestamp TIMESTAMP,
    resource_version TEXT NOT NULL DEFAULT '',
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);

CREATE TABLE container_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    container_project_id BIGINT REFERENCES container_projects (id) ON DELETE SET NULL,
    container_node_id BIGINT REFERENCES container_nodes (id) ON DELETE SET NULL,
    container_replicator_id BIGINT REFERENCES container_replicators (id) ON DELETE SET NULL,
    node_name TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    phase TEXT NOT NULL DEFAULT '',
    ready BOOLEAN NOT NULL DEFAULT FALSE,
    restart_count BIGINT NOT NULL DEFAULT 0,
    pod_ip TEXT NOT NULL DEFAULT '',
    host_ip TEXT NOT NULL DEFAULT '',
    qos_class TEXT NOT NULL DEFAULT '',
    cpu_request_millicores BIGINT NOT NULL DEFAULT 0,
    memory_request_bytes BIGINT NOT NULL DEFAULT 0,
    started_at TIMESTAMP,
    creation_timestamp TIMESTAMP,
    resource_version TEXT NOT NULL DEFAULT '',
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);
CREATE INDEX container_groups_node ON container_groups (container_node_id);
CREATE INDEX container_groups_project ON container_groups (container_project_id);

CREATE TABLE containers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    ems_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    container_group_id BIGINT REFERENCES container_groups (id) ON DELETE SET NULL,
    container_image_id BIGINT REFERENCES container_images (id) ON DELETE SET NULL,
    image TEXT NOT NULL DEFAULT '',
    image_ref TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    ready BOOLEAN NOT NULL DEFAULT FALSE,
    restart_count BIGINT NOT NULL DEFAULT 0,
    started_at TIMESTAMP,
    cpu_request_millicores BIGINT NOT NULL DEFAULT 0,
    cpu_limit_millicores BIGINT NOT NULL DEFAULT 0,
    memory_request_bytes BIGINT NOT NULL DEFAULT 0,
    memory_limit_bytes BIGINT NOT NULL DEFAULT 0,
    content_hash BIGINT NOT NULL DEFAULT 0,
    deleted_on TIMESTAMP,
    created_on TIMESTAMP NOT NULL,
    updated_on TIMESTAMP NOT NULL,
    UNIQUE (provider_id, ems_ref)
);
CREATE INDEX containers_group ON containers (container_group_id);

-- Which pods a service selects (by label selector), recomputed on refresh.
CREATE TABLE container_service_groups (
    container_service_id BIGINT NOT NULL REFERENCES container_services (id) ON DELETE CASCADE,
    container_group_id BIGINT NOT NULL REFERENCES container_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (container_service_id, container_group_id)
);
CREATE INDEX container_service_groups_group ON container_service_groups (container_group_id);
