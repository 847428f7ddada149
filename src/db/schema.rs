//! diesel table definitions, shared by both backends (the migrations per backend
//! create the same columns).

diesel::table! {
    regions (id) {
        id -> BigInt,
        region -> Integer,
        guid -> Text,
        description -> Text,
        created_on -> Timestamp,
    }
}

diesel::table! {
    zones (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        created_on -> Timestamp,
    }
}

diesel::table! {
    servers (id) {
        id -> BigInt,
        guid -> Text,
        name -> Text,
        zone_id -> BigInt,
        hostname -> Text,
        pid -> Integer,
        version -> Text,
        status -> Text,
        started_on -> Nullable<Timestamp>,
        stopped_on -> Nullable<Timestamp>,
        last_heartbeat -> Nullable<Timestamp>,
        memory_rss -> BigInt,
        memory_heap -> BigInt,
        cpu_percent -> Double,
        is_master -> Bool,
        url -> Text,
    }
}

diesel::table! {
    server_roles (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        scope -> Text,
        max_concurrent -> Integer,
    }
}

diesel::table! {
    assigned_server_roles (id) {
        id -> BigInt,
        server_id -> BigInt,
        server_role_id -> BigInt,
        priority -> Integer,
        active -> Bool,
        lease_expires_on -> Nullable<Timestamp>,
    }
}

diesel::joinable!(servers -> zones (zone_id));
diesel::joinable!(assigned_server_roles -> servers (server_id));
diesel::joinable!(assigned_server_roles -> server_roles (server_role_id));

diesel::table! {
    queue_messages (id) {
        id -> BigInt,
        priority -> Integer,
        state -> Text,
        zone -> Text,
        role -> Text,
        queue_name -> Text,
        server_guid -> Text,
        class_name -> Text,
        method_name -> Text,
        args -> Text,
        instance_id -> Nullable<BigInt>,
        target_id -> Nullable<BigInt>,
        task_id -> Text,
        deliver_on -> Nullable<Timestamp>,
        msg_timeout -> Integer,
        created_on -> Timestamp,
        dequeued_on -> Nullable<Timestamp>,
        finished_on -> Nullable<Timestamp>,
        handler_server -> Text,
        handler_worker -> Text,
        attempts -> Integer,
        last_error -> Text,
    }
}

diesel::table! {
    workers (id) {
        id -> BigInt,
        server_id -> BigInt,
        worker_type -> Text,
        slot -> Integer,
        status -> Text,
        started_on -> Nullable<Timestamp>,
        last_heartbeat -> Nullable<Timestamp>,
        messages_done -> BigInt,
        restarts -> Integer,
        last_exit_reason -> Text,
        memory_bytes -> BigInt,
        current_message_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    diagnostic_counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::joinable!(workers -> servers (server_id));

diesel::table! {
    providers (id) {
        id -> BigInt,
        name -> Text,
        provider_type -> Text,
        zone_id -> BigInt,
        api_url -> Text,
        auth_kind -> Text,
        credentials -> Text,
        kubeconfig_path -> Text,
        verify_tls -> Bool,
        ca_cert -> Text,
        prometheus_url -> Text,
        refresh_interval_s -> Nullable<Integer>,
        get_container_images -> Nullable<Bool>,
        store_unused_images -> Nullable<Bool>,
        status -> Text,
        status_message -> Text,
        last_refresh_on -> Nullable<Timestamp>,
        last_refresh_success_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
        metrics_status -> Text,
        metrics_status_message -> Text,
        last_metrics_success_on -> Nullable<Timestamp>,
        tenant_id -> Nullable<BigInt>,
        protected -> Bool,
        kubeconfig_context -> Text,
        allow_insecure_http -> Bool,
        prometheus_auth -> Text,
        prometheus_credentials -> Text,
        prometheus_ca_cert -> Text,
    }
}

diesel::table! {
    provider_refreshes (id) {
        id -> BigInt,
        provider_id -> BigInt,
        kind -> Text,
        status -> Text,
        error -> Text,
        started_on -> Timestamp,
        collect_s -> Double,
        parse_s -> Double,
        save_s -> Double,
        total_s -> Double,
        objects -> BigInt,
        added -> BigInt,
        updated -> BigInt,
        deleted -> BigInt,
    }
}

diesel::table! {
    container_projects (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        name -> Text,
        labels -> Text,
        annotations -> Text,
        phase -> Text,
        creation_timestamp -> Nullable<Timestamp>,
        resource_version -> Text,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    container_nodes (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        name -> Text,
        labels -> Text,
        annotations -> Text,
        ready_status -> Text,
        kubelet_version -> Text,
        os_image -> Text,
        internal_ip -> Text,
        cpu_cores -> Double,
        memory_bytes -> BigInt,
        pods_capacity -> BigInt,
        creation_timestamp -> Nullable<Timestamp>,
        resource_version -> Text,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    container_image_registries (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        host -> Text,
        port -> Text,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    container_images (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        name -> Text,
        tag -> Text,
        digest -> Text,
        image_ref -> Text,
        container_image_registry_id -> Nullable<BigInt>,
        labels -> Text,
        used -> Bool,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    container_replicators (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        kind -> Text,
        name -> Text,
        namespace -> Text,
        container_project_id -> Nullable<BigInt>,
        parent_ems_ref -> Text,
        labels -> Text,
        annotations -> Text,
        selector -> Text,
        replicas -> BigInt,
        ready_replicas -> BigInt,
        creation_timestamp -> Nullable<Timestamp>,
        resource_version -> Text,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    container_services (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        name -> Text,
        namespace -> Text,
        container_project_id -> Nullable<BigInt>,
        labels -> Text,
        annotations -> Text,
        selector -> Text,
        service_type -> Text,
        cluster_ip -> Text,
        ports -> Text,
        creation_timestamp -> Nullable<Timestamp>,
        resource_version -> Text,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    container_groups (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        name -> Text,
        namespace -> Text,
        container_project_id -> Nullable<BigInt>,
        container_node_id -> Nullable<BigInt>,
        container_replicator_id -> Nullable<BigInt>,
        node_name -> Text,
        labels -> Text,
        annotations -> Text,
        phase -> Text,
        ready -> Bool,
        restart_count -> BigInt,
        pod_ip -> Text,
        host_ip -> Text,
        qos_class -> Text,
        cpu_request_millicores -> BigInt,
        memory_request_bytes -> BigInt,
        started_at -> Nullable<Timestamp>,
        creation_timestamp -> Nullable<Timestamp>,
        resource_version -> Text,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    containers (id) {
        id -> BigInt,
        provider_id -> BigInt,
        ems_ref -> Text,
        name -> Text,
        container_group_id -> Nullable<BigInt>,
        container_image_id -> Nullable<BigInt>,
        image -> Text,
        image_ref -> Text,
        state -> Text,
        reason -> Text,
        ready -> Bool,
        restart_count -> BigInt,
        started_at -> Nullable<Timestamp>,
        cpu_request_millicores -> BigInt,
        cpu_limit_millicores -> BigInt,
        memory_request_bytes -> BigInt,
        memory_limit_bytes -> BigInt,
        content_hash -> BigInt,
        deleted_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    container_service_groups (container_service_id,container_group_id) {
        container_service_id -> BigInt,
        container_group_id -> BigInt,
    }
}

diesel::joinable!(providers -> zones (zone_id));
diesel::joinable!(provider_refreshes -> providers (provider_id));
diesel::joinable!(container_groups -> container_nodes (container_node_id));
diesel::joinable!(container_groups -> container_projects (container_project_id));
diesel::joinable!(container_groups -> container_replicators (container_replicator_id));
diesel::joinable!(containers -> container_groups (container_group_id));
diesel::joinable!(containers -> container_images (container_image_id));
diesel::joinable!(container_images -> container_image_registries (container_image_registry_id));
diesel::joinable!(container_service_groups -> container_services (container_service_id));
diesel::joinable!(container_service_groups -> container_groups (container_group_id));

diesel::table! {
    metrics (resource_type, resource_id, timestamp) {
        resource_type -> Text,
        resource_id -> BigInt,
        provider_id -> BigInt,
        timestamp -> Timestamp,
        capture_interval -> Integer,
        cpu_usage_rate_average -> Nullable<Double>,
        cpu_usage_cores -> Nullable<Double>,
        mem_usage_absolute_average -> Nullable<Double>,
        mem_usage_bytes -> Nullable<Double>,
        net_usage_rate_average -> Nullable<Double>,
        disk_usage_rate_average -> Nullable<Double>,
        disk_used_bytes -> Nullable<Double>,
        cpu_total_cores -> Nullable<Double>,
        mem_total_bytes -> Nullable<Double>,
    }
}

diesel::table! {
    metric_rollups (resource_type, resource_id, capture_interval_name, timestamp) {
        resource_type -> Text,
        resource_id -> BigInt,
        provider_id -> BigInt,
        capture_interval_name -> Text,
        timestamp -> Timestamp,
        cpu_usage_rate_average -> Nullable<Double>,
        cpu_usage_cores -> Nullable<Double>,
        mem_usage_absolute_average -> Nullable<Double>,
        mem_usage_bytes -> Nullable<Double>,
        net_usage_rate_average -> Nullable<Double>,
        disk_usage_rate_average -> Nullable<Double>,
        disk_used_bytes -> Nullable<Double>,
        cpu_total_cores -> Nullable<Double>,
        mem_total_bytes -> Nullable<Double>,
        samples -> BigInt,
    }
}

diesel::table! {
    metric_capture_states (resource_type, resource_id) {
        resource_type -> Text,
        resource_id -> BigInt,
        provider_id -> BigInt,
        last_capture_on -> Nullable<Timestamp>,
        queued_on -> Nullable<Timestamp>,
        rows_written -> BigInt,
    }
}

diesel::table! {
    server_components (id) {
        id -> BigInt,
        server_id -> BigInt,
        name -> Text,
        status -> Text,
        started_on -> Nullable<Timestamp>,
        restarts -> Integer,
        last_exit_reason -> Text,
        last_exit_on -> Nullable<Timestamp>,
    }
}

diesel::joinable!(server_components -> servers (server_id));

diesel::table! {
    queue_counters (state, zone, role, queue_name) {
        state -> Text,
        zone -> Text,
        role -> Text,
        queue_name -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    queue_counter_deltas (state, zone, role, queue_name) {
        state -> Text,
        zone -> Text,
        role -> Text,
        queue_name -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    tenants (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        parent_id -> Nullable<BigInt>,
        created_on -> Timestamp,
    }
}

diesel::table! {
    user_roles (id) {
        id -> BigInt,
        name -> Text,
        read_only -> Bool,
        created_on -> Timestamp,
    }
}

diesel::table! {
    user_role_features (role_id, feature) {
        role_id -> BigInt,
        feature -> Text,
    }
}

diesel::table! {
    user_groups (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        role_id -> BigInt,
        tenant_id -> BigInt,
        filters -> Text,
        read_only -> Bool,
        created_on -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        userid -> Text,
        name -> Text,
        email -> Text,
        password_hash -> Text,
        current_group_id -> Nullable<BigInt>,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_on -> Nullable<Timestamp>,
        created_on -> Timestamp,
    }
}

diesel::table! {
    user_group_memberships (user_id, group_id) {
        user_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    auth_tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        group_id -> Nullable<BigInt>,
        ttl_seconds -> Integer,
        expires_on -> Timestamp,
        created_on -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        created_on -> Timestamp,
        userid -> Text,
        action -> Text,
        target -> Text,
        outcome -> Text,
        status -> Integer,
        source -> Text,
        message -> Text,
    }
}

diesel::joinable!(user_groups -> user_roles (role_id));
diesel::joinable!(user_groups -> tenants (tenant_id));
diesel::joinable!(user_role_features -> user_roles (role_id));
diesel::joinable!(user_group_memberships -> users (user_id));
diesel::joinable!(user_group_memberships -> user_groups (group_id));
diesel::joinable!(auth_tokens -> users (user_id));

diesel::table! {
    categories (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        single_value -> Bool,
        created_on -> Timestamp,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        category_id -> BigInt,
        name -> Text,
        description -> Text,
        created_on -> Timestamp,
    }
}

diesel::table! {
    taggings (tag_id, taggable_type, taggable_id) {
        tag_id -> BigInt,
        taggable_type -> Text,
        taggable_id -> BigInt,
        source -> Text,
    }
}

diesel::table! {
    label_tag_mappings (id) {
        id -> BigInt,
        label_name -> Text,
        collection -> Text,
        category_id -> BigInt,
        created_on -> Timestamp,
    }
}

diesel::joinable!(tags -> categories (category_id));
diesel::joinable!(taggings -> tags (tag_id));
diesel::joinable!(label_tag_mappings -> categories (category_id));

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    zones,
    servers,
    server_roles,
    assigned_server_roles,
    queue_messages,
    workers,
    diagnostic_counters,
    server_components,
    queue_counters,
    queue_counter_deltas,
    providers,
    provider_refreshes,
    container_projects,
    container_nodes,
    container_image_registries,
    container_images,
    container_replicators,
    container_services,
    container_groups,
    containers,
    container_service_groups,
    metrics,
    metric_rollups,
    metric_capture_states,
    tenants,
    user_roles,
    user_role_features,
    user_groups,
    users,
    user_group_memberships,
    auth_tokens,
    audit_events,
    categories,
    tags,
    taggings,
    label_tag_mappings,
    region_keys,
    inventory_changes,
    event_streams,
    event_positions,
    alerts,
    notifications,
    notification_attempts,
);

diesel::table! {
    region_keys (id) {
        id -> BigInt,
        key_id -> Text,
        check_value -> Text,
        created_on -> Timestamp,
        retired_on -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inventory_changes (id) {
        id -> BigInt,
        provider_id -> BigInt,
        collection -> Text,
        num_created -> BigInt,
        num_updated -> BigInt,
        num_deleted -> BigInt,
        created_ids -> Text,
        updated_ids -> Text,
        deleted_ids -> Text,
        created_on -> Timestamp,
    }
}

diesel::table! {
    event_streams (id) {
        id -> BigInt,
        event_type -> Text,
        source -> Text,
        provider_id -> Nullable<BigInt>,
        ems_ref -> Text,
        event_count -> BigInt,
        occurrences -> BigInt,
        chain_id -> Text,
        severity -> Text,
        reason -> Text,
        message -> Text,
        target_kind -> Text,
        target_name -> Text,
        target_ems_ref -> Text,
        container_namespace -> Nullable<Text>,
        container_project_id -> Nullable<BigInt>,
        container_node_id -> Nullable<BigInt>,
        container_node_name -> Nullable<Text>,
        container_group_id -> Nullable<BigInt>,
        container_group_name -> Nullable<Text>,
        container_id -> Nullable<BigInt>,
        container_name -> Nullable<Text>,
        container_replicator_id -> Nullable<BigInt>,
        container_replicator_name -> Nullable<Text>,
        component -> Text,
        host -> Text,
        first_timestamp -> Nullable<Timestamp>,
        timestamp -> Timestamp,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    event_positions (provider_id) {
        provider_id -> BigInt,
        resource_version -> Text,
        server_guid -> Text,
        events_caught -> BigInt,
        events_folded -> BigInt,
        relists -> BigInt,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        source -> Text,
        name -> Text,
        fingerprint -> Text,
        status -> Text,
        severity -> Text,
        description -> Text,
        url -> Text,
        provider_id -> Nullable<BigInt>,
        container_node_id -> Nullable<BigInt>,
        container_group_id -> Nullable<BigInt>,
        container_project_id -> Nullable<BigInt>,
        target_kind -> Text,
        target_name -> Text,
        alert_labels -> Text,
        event_stream_id -> Nullable<BigInt>,
        occurrences -> BigInt,
        started_on -> Timestamp,
        ended_on -> Nullable<Timestamp>,
        last_seen_on -> Timestamp,
        acknowledged -> Bool,
        acknowledged_by -> Text,
        acknowledged_on -> Nullable<Timestamp>,
        assignee -> Text,
        created_on -> Timestamp,
        updated_on -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        kind -> Text,
        target -> Text,
        subject -> Text,
        body -> Text,
        policy_name -> Text,
        event_stream_id -> Nullable<BigInt>,
        alert_id -> Nullable<BigInt>,
        status -> Text,
        attempts -> Integer,
        next_attempt_on -> Timestamp,
        last_error -> Text,
        created_on -> Timestamp,
        delivered_on -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notification_attempts (id) {
        id -> BigInt,
        notification_id -> BigInt,
        attempted_on -> Timestamp,
        outcome -> Text,
        detail -> Text,
        duration_ms -> BigInt,
    }
}
