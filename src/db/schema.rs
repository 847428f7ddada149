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

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    zones,
    servers,
    server_roles,
    assigned_server_roles,
    queue_messages,
    workers,
    diagnostic_counters,
);
