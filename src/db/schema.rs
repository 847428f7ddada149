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
    }
}

diesel::joinable!(servers -> zones (zone_id));
diesel::joinable!(assigned_server_roles -> servers (server_id));
diesel::joinable!(assigned_server_roles -> server_roles (server_role_id));

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    zones,
    servers,
    server_roles,
    assigned_server_roles,
);
