//! `steward bench api`: how fast a real node answers its REST API over a large
//! inventory. A `steward start` child process (the node as users run it) on a fresh
//! database into which `--objects` pods are seeded directly (50 projects, 100 pods per
//! cluster node, labels `{"app":…,"tier":…}`), with a tenant below the root, a group
//! `bench-limited` (role `viewer`, limited to one project) and a user in it.
//!
//! Measured, with logins by token (`GET /api/auth` once, then `X-Auth-Token`, so the
//! figures are the API's and not argon2's):
//!
//! - `GET /ping` throughput — `wrk -t2 -c50 -d5s` when `wrk` is on the PATH, else
//!   50 concurrent connections of an in-process client (`"load"` says which);
//! - a filtered, sorted page of 100 pods as the administrator, and as the limited user
//!   (RBAC inside the SQL), 300 sequential requests each at varying offsets;
//! - pages of 1,000 pods with 20 attributes, 50 requests;
//! - on PostgreSQL, the statements one page costs, counted on the wire: the node is
//!   restarted behind a proxy that counts the frontend's `Query` and `Execute`
//!   messages (the node's idle background, measured beside it, is subtracted); and
//!   the table scans one page causes (`pg_stat_user_tables`);
//! - the node's peak resident memory (`VmHWM`).
//!
//! The node runs every role of the settings but the ones that would act on the seeded
//! provider (`ems_inventory`, `ems_metrics_*`): its cluster does not exist.

use std::fmt::Write as _;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text, Timestamp};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::database::BenchDatabase;
use super::node_process::{NodeProcess, token, vm_hwm_kib};
use crate::db::schema::{container_nodes, container_projects, tenants, user_roles};
use crate::db::{Db, DbConnection, DbError, db_now};
use crate::settings::Settings;

/// What to measure.
#[derive(Debug, Clone)]
pub struct ApiBenchOptions {
    /// `postgres://…` server to create the database on; `None`: SQLite.
    pub database: Option<String>,
    /// Pods seeded.
    pub objects: usize,
}

/// Projects (namespaces) the pods are spread over.
const PROJECTS: usize = 50;
/// The one project the limited group may see.
const LIMITED_PROJECT: usize = 7;
/// Pods per cluster node.
const PODS_PER_NODE: usize = 100;
/// The limited user and group.
const LIMITED: &str = "bench-limited";
/// Sequential requests per page measurement, after [`WARMUP`] untimed ones.
const PAGE_REQUESTS: usize = 300;
/// Pages each asked right after a write (counts taken again), after [`WARMUP`].
const RECOUNT_REQUESTS: usize = 100;
const EXPAND_REQUESTS: usize = 50;
const WARMUP: usize = 5;
/// `/ping` load: seconds, threads, connections (`wrk -t2 -c50 -d5s`).
const PING_SECONDS: u64 = 5;
const PING_THREADS: usize = 2;
const PING_CONNECTIONS: usize = 50;
/// Requests whose statements are counted (PostgreSQL).
const COUNTED_REQUESTS: usize = 30;
/// Requests whose table scans are read (PostgreSQL).
const SCANNED_REQUESTS: usize = 10;
/// The filter and sort of the page measurements (`labels.tier = "web"`, by name).
const PAGE_QUERY: &str =
    "expand=resources&limit=100&filter[]=labels.tier%20%3D%20%22web%22&sort_by=name";
/// Twenty attributes of container_groups (src/api_query/catalog.rs).
const ATTRIBUTES: [&str; 20] = [
    "ems_ref",
    "name",
    "namespace",
    "container_project_id",
    "container_node_id",
    "container_replicator_id",
    "node_name",
    "labels",
    "phase",
    "ready",
    "restart_count",
    "pod_ip",
    "host_ip",
    "qos_class",
    "cpu_request_millicores",
    "memory_request_bytes",
    "started_at",
    "creation_timestamp",
    "resource_version",
    "created_on",
];
/// Tables whose scans one page is charged with.
const SCANNED_TABLES: [&str; 4] = [
    "container_groups",
    "container_projects",
    "providers",
    "tenants",
];

/// Runs the benchmark and answers its report.
pub async fn run_api_bench(settings: Settings, options: ApiBenchOptions) -> anyhow::Result<Value> {
    let database = BenchDatabase::create(options.database.as_deref())?;
    let postgres = matches!(database.url, crate::settings::DatabaseUrl::Postgres(_));
    let dir = database.dir().join("node");
    std::fs::create_dir_all(&dir)?;
    let roles = node_roles(&settings);
    let mut node = NodeProcess::start(&database.url_text(), &dir, &roles)?;
    let url = node.url.clone();
    eprintln!(
        "bench: node {url} (pid {}) on {}",
        node.child.id(),
        database.url.masked()
    );
    let db = {
        let mut s = settings.database.clone();
        s.url = database.url.clone();
        s.pool_size = 2;
        tokio::task::spawn_blocking(move || Db::connect(&s)).await??
    };

    eprintln!("bench: seeding {} pods", options.objects);
    let started = Instant::now();
    let objects = options.objects;
    let key_file = dir.join("v2_key");
    let seeded = db.run(move |c| Ok(seed(c, objects, &key_file))).await??;
    if postgres {
        // What autovacuum does to a table soon after a refresh wrote it.
        db.run(|c| {
            use diesel::connection::SimpleConnection;
            c.batch_execute(
                "VACUUM (ANALYZE) container_groups, container_projects, container_nodes, \
                 providers, tenants",
            )?;
            Ok(())
        })
        .await?;
    }
    let seed_s = started.elapsed().as_secs_f64();
    eprintln!("bench: seeded in {seed_s:.1} s");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let admin_password = std::fs::read_to_string(crate::auth::bootstrap::password_file(&dir))?
        .trim()
        .to_string();
    let admin = token(&http, &url, "admin", &admin_password).await?;
    let limited = token(&http, &url, LIMITED, &seeded.limited_password).await?;

    // /ping throughput.
    let wrk = find_in_path("wrk");
    let load = if wrk.is_some() { "wrk" } else { "reqwest" };
    eprintln!(
        "bench: GET /ping for {PING_SECONDS} s, {PING_CONNECTIONS} connections ({})",
        if wrk.is_some() {
            "wrk"
        } else {
            "in-process client"
        }
    );
    let ping_url = format!("{url}/ping");
    let ping_rps = match wrk {
        Some(wrk) => tokio::task::spawn_blocking(move || wrk_ping(&wrk, &ping_url)).await??,
        None => tokio::task::spawn_blocking(move || client_ping(ping_url)).await??,
    };
    eprintln!("bench: /ping {ping_rps:.0} requests/s");

    // Filtered, sorted pages of 100, as the administrator and as the limited user.
    let list = |offset: usize| format!("{url}/api/container_groups?{PAGE_QUERY}&offset={offset}");
    let first = get_json(&http, &list(0), &admin).await?;
    anyhow::ensure!(
        first["count"].as_u64() == Some(seeded.pods as u64)
            && first["subquery_count"].as_u64() == Some(seeded.web_pods as u64)
            && first["subcount"].as_u64() == Some(100.min(seeded.web_pods) as u64),
        "unexpected answer to the administrator's page (expected count {}, subquery_count {}): {}",
        seeded.pods,
        seeded.web_pods,
        crate::text::truncate(&first.to_string(), 400)
    );
    eprintln!(
        "bench: {PAGE_REQUESTS} filtered pages of 100 of {} as admin",
        seeded.web_pods
    );
    let admin_offsets = offsets(seeded.web_pods, 100, PAGE_REQUESTS + WARMUP);
    let admin_times = timed(&http, &admin, admin_offsets.iter().map(|&o| list(o))).await?;
    let list_page = Percentiles::of(&admin_times);

    // The same pages, each right after a write to the pods (as a watch makes): the counts
    // are taken again. (PostgreSQL keeps them by change stamp; SQLite always counts.)
    let recount = if postgres {
        eprintln!("bench: {RECOUNT_REQUESTS} filtered pages as admin, each after a write");
        let mut times = Vec::new();
        for (i, &offset) in admin_offsets
            .iter()
            .take(RECOUNT_REQUESTS + WARMUP)
            .enumerate()
        {
            db.run(|c| {
                use diesel::connection::SimpleConnection;
                c.batch_execute(
                    "UPDATE container_groups SET restart_count = restart_count \
                     WHERE id = (SELECT min(id) FROM container_groups)",
                )?;
                Ok(())
            })
            .await?;
            let (ms, _) = timed_get(&http, &list(offset), &admin).await?;
            if i >= WARMUP {
                times.push(ms);
            }
        }
        Some(Percentiles::of(&times))
    } else {
        None
    };

    let first = get_json(&http, &list(0), &limited).await?;
    anyhow::ensure!(
        first["count"].as_u64() == Some(seeded.limited_pods as u64)
            && first["subquery_count"].as_u64() == Some(seeded.limited_web_pods as u64),
        "the limited user sees the wrong pods (expected count {}, subquery_count {}): {}",
        seeded.limited_pods,
        seeded.limited_web_pods,
        crate::text::truncate(&first.to_string(), 400)
    );
    eprintln!(
        "bench: {PAGE_REQUESTS} filtered pages as `{LIMITED}` (sees {} of {} pods)",
        seeded.limited_pods, seeded.pods
    );
    let limited_offsets = offsets(seeded.limited_web_pods, 100, PAGE_REQUESTS + WARMUP);
    let limited_times = timed(&http, &limited, limited_offsets.iter().map(|&o| list(o))).await?;
    let rbac_page = Percentiles::of(&limited_times);

    // Pages of 1,000 with 20 attributes.
    let attributes = ATTRIBUTES.join(",");
    let wide = |offset: usize| {
        format!("{url}/api/container_groups?limit=1000&offset={offset}&attributes={attributes}")
    };
    let first = get_json(&http, &wide(0), &admin).await?;
    anyhow::ensure!(
        first["subcount"].as_u64() == Some(1000.min(seeded.pods) as u64),
        "unexpected answer to a page of 1,000: {}",
        crate::text::truncate(&first.to_string(), 400)
    );
    eprintln!("bench: {EXPAND_REQUESTS} pages of 1,000 with 20 attributes");
    let wide_offsets = offsets(seeded.pods, 1000, EXPAND_REQUESTS + WARMUP);
    let wide_times = timed(&http, &admin, wide_offsets.iter().map(|&o| wide(o))).await?;
    let expand = Percentiles::of(&wide_times);

    // Table scans of one page (PostgreSQL's statistics; the node is otherwise idle).
    let (scans_admin, scans_limited) = if postgres {
        eprintln!("bench: table scans of one page (pg_stat_user_tables)");
        let a = scans_per_request(&db, &http, &admin, &admin_offsets, &list).await?;
        let l = scans_per_request(&db, &http, &limited, &limited_offsets, &list).await?;
        (a, l)
    } else {
        (Value::Null, Value::Null)
    };

    let peak_rss_mb = vm_hwm_kib(node.child.id()) as f64 / 1024.0;
    node.stop();

    // Statements of one page, counted on the wire (PostgreSQL).
    let statements = if postgres {
        eprintln!("bench: counting statements per page behind a counting proxy");
        match count_statements(
            &database,
            &dir,
            &roles,
            &http,
            &admin,
            &limited,
            &admin_offsets,
            &limited_offsets,
        )
        .await
        {
            Ok(counted) => counted,
            Err(e) => {
                eprintln!("bench: statements not counted: {e:#}");
                StatementCounts::missing(format!("not counted: {e:#}"))
            }
        }
    } else {
        StatementCounts::missing(
            "counted on PostgreSQL's wire protocol only; SQLite runs the same statements".into(),
        )
    };
    drop(db);

    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "bench": "api",
        "database": if postgres { "postgresql" } else { "sqlite" },
        "objects": seeded.pods,
        "seed_s": r2(seed_s),
        "load": load,
        "ping_rps": ping_rps.round(),
        "list_page_p50_ms": r2(list_page.p50),
        "list_page_p99_ms": r2(list_page.p99),
        "list_page_max_ms": r2(list_page.max),
        "list_page_matched": seeded.web_pods,
        "list_page_recount_p50_ms": recount.as_ref().map(|p| r2(p.p50)),
        "list_page_recount_p99_ms": recount.as_ref().map(|p| r2(p.p99)),
        "rbac_filtered_p50_ms": r2(rbac_page.p50),
        "rbac_filtered_p99_ms": r2(rbac_page.p99),
        "rbac_filtered_max_ms": r2(rbac_page.max),
        "rbac_visible": seeded.limited_pods,
        "rbac_matched": seeded.limited_web_pods,
        "expand_1000_p50_ms": r2(expand.p50),
        "expand_1000_p99_ms": r2(expand.p99),
        "expand_1000_max_ms": r2(expand.max),
        "requests": {"list_page": list_page.n, "list_page_recount": recount.as_ref().map(|p| p.n), "rbac_filtered": rbac_page.n, "expand_1000": expand.n,
                     "warmup_each": WARMUP},
        "statements_per_page": statements.admin.map(r1),
        "statements_per_rbac_page": statements.limited.map(r1),
        "pool_checks_per_page": statements.pool_checks.map(r1),
        "statements_background": statements.background,
        "statements_unattributed": statements.unattributed,
        "statements_note": statements.note,
        "table_scans_per_page": scans_admin,
        "table_scans_per_rbac_page": scans_limited,
        "peak_rss_mb": r1(peak_rss_mb),
    }))
}

/// A readable summary of a report of [`run_api_bench`].
pub fn api_summary(r: &Value) -> String {
    let f = |key: &str| r[key].as_f64().unwrap_or(f64::NAN);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "API benchmark: {} pods on {} (seeded in {:.1} s), /ping load by {}",
        r["objects"],
        r["database"].as_str().unwrap_or("?"),
        f("seed_s"),
        r["load"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        out,
        "  GET /ping                               {:>9.0} req/s         (target >= 20,000)",
        f("ping_rps")
    );
    for (what, key, target) in [
        ("filtered page of 100, admin", "list_page", "p99 < 50 ms"),
        (
            "same, each after a write (recounted)",
            "list_page_recount",
            "none",
        ),
        (
            "filtered page of 100, RBAC-limited",
            "rbac_filtered",
            "p99 < 50 ms",
        ),
        (
            "page of 1,000, 20 attributes",
            "expand_1000",
            "p99 < 200 ms",
        ),
    ] {
        if r[format!("{key}_p99_ms")].is_null() {
            continue;
        }
        let _ = writeln!(
            out,
            "  {what:<38} p50 {:>7.1} ms  p99 {:>7.1} ms  (target {target})",
            f(&format!("{key}_p50_ms")),
            f(&format!("{key}_p99_ms")),
        );
    }
    match r["statements_per_page"].as_f64() {
        Some(n) => {
            let _ = writeln!(
                out,
                "  statements per page                     {n:.1} (RBAC-limited {}; of which pool checks {})",
                r["statements_per_rbac_page"], r["pool_checks_per_page"]
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  statements per page                     - ({})",
                r["statements_note"].as_str().unwrap_or("")
            );
        }
    }
    if !r["table_scans_per_page"].is_null() {
        let _ = writeln!(
            out,
            "  table scans per page                    {}",
            r["table_scans_per_page"]
        );
        let _ = writeln!(
            out,
            "  table scans per RBAC-limited page       {}",
            r["table_scans_per_rbac_page"]
        );
    }
    let _ = writeln!(
        out,
        "  node peak RSS                           {:.1} MB",
        f("peak_rss_mb")
    );
    out
}

/// The roles of `settings` but those that would act on the seeded provider.
fn node_roles(settings: &Settings) -> String {
    settings
        .roles
        .enabled
        .iter()
        .filter(|r| *r != "ems_inventory" && !r.starts_with("ems_metrics_"))
        .cloned()
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------------
// Seeding

/// What was seeded, and what each caller should therefore see.
struct Seeded {
    pods: usize,
    web_pods: usize,
    limited_pods: usize,
    limited_web_pods: usize,
    limited_password: String,
}

/// A value of a seeded row.
enum Val {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(Option<NaiveDateTime>),
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_string())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}

impl From<i64> for Val {
    fn from(n: i64) -> Self {
        Val::Int(n)
    }
}

macro_rules! bind_all {
    ($query:expr, $values:expr) => {{
        let mut q = $query;
        for value in $values {
            q = match value {
                Val::Text(v) => q.bind::<Text, _>(v),
                Val::Int(v) => q.bind::<BigInt, _>(v),
                Val::Float(v) => q.bind::<Double, _>(v),
                Val::Bool(v) => q.bind::<Bool, _>(v),
                Val::Time(v) => q.bind::<Nullable<Timestamp>, _>(v),
            };
        }
        q
    }};
}

/// Inserts `count` rows made by `row` into `table`, as many per statement as the
/// backend's bind-parameter limit allows (PostgreSQL 65,535, SQLite 32,766); each
/// statement commits on its own, so a node writing beside it is never held up long.
fn insert_rows(
    conn: &mut DbConnection,
    table: &str,
    columns: &[&str],
    count: usize,
    row: impl Fn(usize) -> Vec<Val>,
) -> Result<(), DbError> {
    let (limit, postgres) = match conn {
        DbConnection::Postgresql(_) => (65_535, true),
        DbConnection::Sqlite(_) => (32_766, false),
    };
    let per_statement = (limit / columns.len()).max(1);
    let mut start = 0;
    while start < count {
        let end = (start + per_statement).min(count);
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut values = Vec::with_capacity((end - start) * columns.len());
        for i in start..end {
            let vals = row(i);
            debug_assert_eq!(vals.len(), columns.len());
            sql.push_str(if i == start { "(" } else { ", (" });
            for j in 0..vals.len() {
                let n = values.len() + j + 1;
                let sep = if j == 0 { "" } else { ", " };
                let _ = if postgres {
                    write!(sql, "{sep}${n}")
                } else {
                    write!(sql, "{sep}?{n}")
                };
            }
            sql.push(')');
            values.extend(vals);
        }
        match conn {
            DbConnection::Postgresql(pg) => {
                bind_all!(diesel::sql_query(sql).into_boxed(), values).execute(pg)?
            }
            DbConnection::Sqlite(lite) => {
                bind_all!(diesel::sql_query(sql).into_boxed(), values).execute(lite)?
            }
        };
        start = end;
    }
    Ok(())
}

/// A well-mixed 64-bit value of `i` (splitmix64), for names and hashes that do not
/// follow insertion order.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const TIERS: [&str; 3] = ["web", "api", "db"];

/// Seeds the tenant, group, user, provider, projects, nodes and `pods` pods.
fn seed(conn: &mut DbConnection, pods: usize, key_file: &Path) -> anyhow::Result<Seeded> {
    let now = db_now(conn)?;
    // A tenant below the root, a group in it limited to one project, a user in it.
    let root: i64 = tenants::table
        .filter(tenants::parent_id.is_null())
        .select(tenants::id)
        .first(conn)?;
    let tenant: i64 = diesel::insert_into(tenants::table)
        .values((
            tenants::name.eq("bench-tenant"),
            tenants::description.eq("steward bench api"),
            tenants::parent_id.eq(Some(root)),
            tenants::created_on.eq(now),
        ))
        .returning(tenants::id)
        .get_result(conn)?;
    let viewer: i64 = user_roles::table
        .filter(user_roles::name.eq("viewer"))
        .select(user_roles::id)
        .first(conn)?;
    let namespace = |k: usize| format!("ns-{k:02}");
    let filters = json!({ "projects": [namespace(LIMITED_PROJECT)] }).to_string();
    {
        use crate::db::schema::user_groups as g;
        diesel::insert_into(g::table)
            .values((
                g::name.eq(LIMITED),
                g::description.eq("steward bench api: one project"),
                g::role_id.eq(viewer),
                g::tenant_id.eq(tenant),
                g::filters.eq(&filters),
                g::read_only.eq(false),
                g::created_on.eq(now),
            ))
            .execute(conn)?;
    }
    let password = crate::auth::secret::random_text(18).map_err(anyhow::Error::msg)?;
    let hash = crate::auth::secret::hash_password(&SecretString::from(password.clone()))
        .map_err(anyhow::Error::msg)?;
    crate::auth::directory::create_user(
        conn,
        &crate::auth::directory::NewUser {
            userid: LIMITED,
            name: "Bench, limited to one project",
            email: "",
            groups: &[LIMITED.to_string()],
            password_hash: &hash,
        },
    )?;

    // The provider, owned by the tenant (its cluster does not exist).
    let keys = crate::crypto::KeyRing::load_or_create(key_file)?;
    let input = crate::providers::ProviderInput {
        name: "bench-api".into(),
        provider_type: "kubernetes".into(),
        api_url: Some("https://127.0.0.1:9".into()),
        ..Default::default()
    };
    let valid = input
        .validate(&crate::settings::ProviderSettings::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let provider = crate::providers::insert_provider(conn, &valid, &keys, Some(tenant))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .id;

    insert_rows(
        conn,
        "container_projects",
        &[
            "provider_id",
            "ems_ref",
            "name",
            "labels",
            "phase",
            "creation_timestamp",
            "resource_version",
            "content_hash",
            "created_on",
            "updated_on",
        ],
        PROJECTS,
        |k| {
            vec![
                provider.into(),
                format!("bench-project-{k}").into(),
                namespace(k).into(),
                format!(r#"{{"team":"team-{}"}}"#, k % 5).into(),
                "Active".into(),
                Val::Time(Some(now)),
                (1000 + k as i64).to_string().into(),
                (mix(k as u64) as i64).into(),
                Val::Time(Some(now)),
                Val::Time(Some(now)),
            ]
        },
    )?;
    let nodes = pods.div_ceil(PODS_PER_NODE).max(1);
    let node_name = |k: usize| format!("node-{k:04}");
    let node_ip = |k: usize| format!("10.0.{}.{}", k / 250, k % 250 + 1);
    insert_rows(
        conn,
        "container_nodes",
        &[
            "provider_id",
            "ems_ref",
            "name",
            "labels",
            "ready_status",
            "kubelet_version",
            "os_image",
            "internal_ip",
            "cpu_cores",
            "memory_bytes",
            "pods_capacity",
            "creation_timestamp",
            "resource_version",
            "content_hash",
            "created_on",
            "updated_on",
        ],
        nodes,
        |k| {
            vec![
                provider.into(),
                format!("bench-node-{k}").into(),
                node_name(k).into(),
                format!(r#"{{"kubernetes.io/hostname":"{}"}}"#, node_name(k)).into(),
                "True".into(),
                "v1.29.4".into(),
                "Debian GNU/Linux 12 (bookworm)".into(),
                node_ip(k).into(),
                Val::Float(16.0),
                Val::Int(64 << 30),
                Val::Int(110),
                Val::Time(Some(now)),
                (2000 + k as i64).to_string().into(),
                (mix((1 << 40) | k as u64) as i64).into(),
                Val::Time(Some(now)),
                Val::Time(Some(now)),
            ]
        },
    )?;
    let project_ids = ids_by_name(
        container_projects::table
            .filter(container_projects::provider_id.eq(provider))
            .select((container_projects::name, container_projects::id))
            .load(conn)?,
        PROJECTS,
        namespace,
    )?;
    let node_ids = ids_by_name(
        container_nodes::table
            .filter(container_nodes::provider_id.eq(provider))
            .select((container_nodes::name, container_nodes::id))
            .load(conn)?,
        nodes,
        node_name,
    )?;

    let pod_node = |i: usize| (i / PODS_PER_NODE) % nodes;
    insert_rows(
        conn,
        "container_groups",
        &[
            "provider_id",
            "ems_ref",
            "name",
            "namespace",
            "container_project_id",
            "container_node_id",
            "node_name",
            "labels",
            "phase",
            "ready",
            "restart_count",
            "pod_ip",
            "host_ip",
            "qos_class",
            "cpu_request_millicores",
            "memory_request_bytes",
            "started_at",
            "creation_timestamp",
            "resource_version",
            "content_hash",
            "created_on",
            "updated_on",
        ],
        pods,
        |i| {
            let h = mix(i as u64);
            let app = format!("app-{}", i % 40);
            let phase = match i % 50 {
                0 => "Pending",
                1 => "Failed",
                2 => "Succeeded",
                _ => "Running",
            };
            let age = chrono::Duration::seconds((h % 2_592_000) as i64);
            let node = pod_node(i);
            vec![
                provider.into(),
                format!("{:08x}-bench-pod-{i}", h as u32).into(),
                format!("{app}-{:010x}", h >> 24).into(),
                namespace(i % PROJECTS).into(),
                project_ids[i % PROJECTS].into(),
                node_ids[node].into(),
                node_name(node).into(),
                format!(r#"{{"app":"{app}","tier":"{}"}}"#, TIERS[i % 3]).into(),
                phase.into(),
                Val::Bool(phase == "Running"),
                Val::Int((h % 7) as i64 * i64::from(h.is_multiple_of(5))),
                format!(
                    "10.{}.{}.{}",
                    128 + (i >> 16) % 128,
                    (i >> 8) & 255,
                    i & 255
                )
                .into(),
                node_ip(node).into(),
                ["Burstable", "BestEffort", "Guaranteed"][i % 3].into(),
                Val::Int([0, 100, 250, 500, 1000][i % 5]),
                Val::Int((128 << 20) * (1 + (i % 8) as i64)),
                Val::Time(Some(now - age)),
                Val::Time(Some(now - age)),
                (100_000 + i as i64).to_string().into(),
                (h as i64).into(),
                Val::Time(Some(now)),
                Val::Time(Some(now)),
            ]
        },
    )?;
    let limited = |i: &usize| i % PROJECTS == LIMITED_PROJECT;
    let web = |i: &usize| i.is_multiple_of(3);
    Ok(Seeded {
        pods,
        web_pods: (0..pods).filter(web).count(),
        limited_pods: (0..pods).filter(limited).count(),
        limited_web_pods: (0..pods).filter(|i| limited(i) && web(i)).count(),
        limited_password: password,
    })
}

/// Ids in the order of `name(0..count)`.
fn ids_by_name(
    rows: Vec<(String, i64)>,
    count: usize,
    name: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<i64>> {
    let map: std::collections::HashMap<String, i64> = rows.into_iter().collect();
    (0..count)
        .map(|k| {
            let n = name(k);
            map.get(&n)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("seeded row `{n}` not found"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Requests

/// One GET with the token; its time to the last byte of the body, ms.
async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(f64, Vec<u8>)> {
    let started = Instant::now();
    let response = http.get(url).header("X-Auth-Token", token).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        status.is_success(),
        "GET {url}: {status} {}",
        String::from_utf8_lossy(&body[..body.len().min(400)])
    );
    Ok((ms, body.to_vec()))
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let (_, body) = timed_get(http, url, token).await?;
    Ok(serde_json::from_slice(&body)?)
}

/// Times the GETs of `urls` one after the other; the first [`WARMUP`] are not kept.
async fn timed(
    http: &reqwest::Client,
    token: &str,
    urls: impl Iterator<Item = String>,
) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    for (i, url) in urls.enumerate() {
        let (ms, _) = timed_get(http, &url, token).await?;
        if i >= WARMUP {
            times.push(ms);
        }
    }
    Ok(times)
}

/// `n` page offsets spread over `rows` rows in pages of `page` (a fixed stride through
/// the pages, so every run asks for the same ones).
fn offsets(rows: usize, page: usize, n: usize) -> Vec<usize> {
    let pages = rows.div_ceil(page).max(1);
    (0..n).map(|i| (i * 7919 + 13) % pages * page).collect()
}

/// p50 / p99 / max of a series (nearest rank).
struct Percentiles {
    n: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(times: &[f64]) -> Self {
        let mut sorted = times.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1]
        };
        Percentiles {
            n: sorted.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// An executable named `name` on the PATH.
fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `wrk -t2 -c50 -d5s URL`: requests per second.
fn wrk_ping(wrk: &Path, url: &str) -> anyhow::Result<f64> {
    let out = Command::new(wrk)
        .arg(format!("-t{PING_THREADS}"))
        .arg(format!("-c{PING_CONNECTIONS}"))
        .arg(format!("-d{PING_SECONDS}s"))
        .arg(url)
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "wrk failed ({}): {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(
        !text.contains("Non-2xx"),
        "/ping answered errors under load: {text}"
    );
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no Requests/sec in wrk's output: {text}"))
}

/// `/ping` from 50 concurrent connections of an in-process client (two threads of
/// their own) for 5 s: requests per second.
fn client_ping(url: String) -> anyhow::Result<f64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(PING_THREADS)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(PING_CONNECTIONS)
            .timeout(Duration::from_secs(10))
            .build()?;
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(PING_SECONDS);
        let tasks: Vec<_> = (0..PING_CONNECTIONS)
            .map(|_| {
                let (http, url, ok, failed) =
                    (http.clone(), url.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let answered = match http.get(&url).send().await {
                            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                            Err(_) => false,
                        };
                        let counter = if answered { &ok } else { &failed };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let failed = failed.load(Ordering::Relaxed);
        anyhow::ensure!(failed == 0, "{failed} /ping requests failed under load");
        Ok(ok.load(Ordering::Relaxed) as f64 / elapsed)
    })
}

// ---------------------------------------------------------------------------------
// PostgreSQL: table scans and statements of one page

#[derive(QueryableByName)]
struct TableScans {
    #[diesel(sql_type = Text)]
    relname: String,
    #[diesel(sql_type = BigInt)]
    seq_scan: i64,
    #[diesel(sql_type = BigInt)]
    idx_scan: i64,
}

/// Sequential and index scans so far of [`SCANNED_TABLES`].
async fn table_scans(db: &Db) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let rows = db
        .run(|c| match c {
            DbConnection::Postgresql(pg) => Ok(diesel::sql_query(
                "SELECT CAST(relname AS TEXT) AS relname, seq_scan, \
                 COALESCE(idx_scan, 0) AS idx_scan FROM pg_stat_user_tables \
                 WHERE relname IN ('container_groups', 'container_projects', 'providers', \
                 'tenants') ORDER BY relname",
            )
            .load::<TableScans>(pg)?),
            DbConnection::Sqlite(_) => Ok(Vec::new()),
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.relname, r.seq_scan, r.idx_scan))
        .collect())
}

/// Table scans per request of [`SCANNED_REQUESTS`] page requests, from PostgreSQL's
/// statistics (which backends publish up to a few seconds late: read until steady).
async fn scans_per_request(
    db: &Db,
    http: &reqwest::Client,
    token: &str,
    offsets: &[usize],
    url: &impl Fn(usize) -> String,
) -> anyhow::Result<Value> {
    let settle = |before: Vec<(String, i64, i64)>| async move {
        let mut last = before.clone();
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let now = table_scans(db).await?;
            if (now == last && now != before) || started.elapsed() > Duration::from_secs(15) {
                return anyhow::Ok(now);
            }
            last = now;
        }
    };
    let before = table_scans(db).await?;
    let before = settle(before).await?;
    for &offset in offsets.iter().take(SCANNED_REQUESTS) {
        timed_get(http, &url(offset), token).await?;
    }
    let after = settle(before.clone()).await?;
    let mut out = serde_json::Map::new();
    for table in SCANNED_TABLES {
        let find = |list: &[(String, i64, i64)]| {
            list.iter()
                .find(|r| r.0 == table)
                .map_or((0, 0), |r| (r.1, r.2))
        };
        let (b, a) = (find(&before), find(&after));
        let per = |d: i64| ((d as f64 / SCANNED_REQUESTS as f64) * 10.0).round() / 10.0;
        out.insert(
            table.to_string(),
            json!({"seq": per(a.0 - b.0), "idx": per(a.1 - b.1)}),
        );
    }
    Ok(Value::Object(out))
}

/// Statements per page request, counted on the wire.
struct StatementCounts {
    admin: Option<f64>,
    limited: Option<f64>,
    pool_checks: Option<f64>,
    background: Option<u64>,
    unattributed: Option<u64>,
    note: String,
}

impl StatementCounts {
    fn missing(note: String) -> Self {
        StatementCounts {
            admin: None,
            limited: None,
            pool_checks: None,
            background: None,
            unattributed: None,
            note,
        }
    }
}

/// Restarts the node behind a [`CountingProxy`] and counts the statements of
/// [`COUNTED_REQUESTS`] page requests of each user.
#[allow(clippy::too_many_arguments)]
async fn count_statements(
    database: &BenchDatabase,
    dir: &Path,
    roles: &str,
    http: &reqwest::Client,
    admin: &str,
    limited: &str,
    admin_offsets: &[usize],
    limited_offsets: &[usize],
) -> anyhow::Result<StatementCounts> {
    let proxy = CountingProxy::start(&database.url_text())?;
    let node = NodeProcess::start(&proxy.url, dir, roles)?;
    let list = |offset: usize| {
        format!(
            "{}/api/container_groups?{PAGE_QUERY}&offset={offset}",
            node.url
        )
    };
    // Let start-up settle, and warm the pool.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for &offset in admin_offsets.iter().take(WARMUP) {
        timed_get(http, &list(offset), admin).await?;
    }
    let before = proxy.counts();
    let mut per_request = Vec::new();
    let mut pool_checks = 0.0;
    for (token, offsets) in [(admin, admin_offsets), (limited, limited_offsets)] {
        let start = proxy.counts();
        for &offset in offsets.iter().take(COUNTED_REQUESTS) {
            timed_get(http, &list(offset), token).await?;
        }
        let end = proxy.counts();
        per_request.push((end.request - start.request) as f64 / COUNTED_REQUESTS as f64);
        if token == admin {
            pool_checks =
                (end.request_checks - start.request_checks) as f64 / COUNTED_REQUESTS as f64;
        }
    }
    let after = proxy.counts();
    drop(node);
    anyhow::ensure!(
        after.request_checks > before.request_checks,
        "no pool check (`SELECT 1`) seen before the requests' statements: cannot tell them from \
         the node's background"
    );
    let unattributed = after.unattributed - before.unattributed;
    Ok(StatementCounts {
        admin: per_request.first().copied(),
        limited: per_request.get(1).copied(),
        pool_checks: Some(pool_checks),
        background: Some(after.background - before.background),
        unattributed: Some(unattributed),
        note: format!(
            "counted on PostgreSQL's wire protocol (Query and Execute messages) over \
             {COUNTED_REQUESTS} requests of each user: each pool checkout (its `SELECT 1` check \
             and what follows on that connection) is charged to the requests when it touches \
             auth_tokens, the user's groups or container_groups, to the node's background \
             when it touches servers, workers, roles or the queue (`statements_background`, \
             in the same window); {unattributed} statements matched neither"
        ),
    })
}

/// A TCP proxy in front of PostgreSQL that counts the statements clients send — simple
/// `Query` and extended-protocol `Execute` messages — by pool checkout: r2d2 checks a
/// connection with `SELECT 1` whenever it is taken from the pool, so what follows on
/// that connection up to the next check is one checkout's work, charged as a whole to
/// the requests or to the node's background by the tables its statements name. It
/// declines TLS so it can read the protocol.
struct CountingProxy {
    /// The database URL through the proxy.
    url: String,
    port: u16,
    counts: Arc<WireCounts>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct WireCounts {
    statements: AtomicU64,
    request: AtomicU64,
    request_checks: AtomicU64,
    background: AtomicU64,
    unattributed: AtomicU64,
}

/// A snapshot of [`WireCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counted {
    statements: u64,
    request: u64,
    request_checks: u64,
    background: u64,
    unattributed: u64,
}

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// Tables only a page request touches in an otherwise idle node.
const REQUEST_TABLES: [&str; 4] = [
    "auth_tokens",
    "user_group_memberships",
    "user_role_features",
    "container_groups",
];
/// Tables of the node's own background work (heartbeats, roles, queue, workers).
const BACKGROUND_TABLES: [&str; 7] = [
    "servers",
    "server_roles",
    "server_components",
    "workers",
    "queue_",
    "regions",
    "zones",
];

impl CountingProxy {
    fn start(database_url: &str) -> anyhow::Result<Self> {
        let mut url = url::Url::parse(database_url)?;
        anyhow::ensure!(
            !url.query_pairs().any(|(k, v)| k == "host"
                || (k == "sslmode" && !matches!(v.as_ref(), "disable" | "allow" | "prefer"))),
            "the database URL needs TLS or a socket; the counting proxy reads plain TCP only"
        );
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let upstream = (host, url.port().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        url.set_host(Some("127.0.0.1"))?;
        url.set_port(Some(port))
            .map_err(|()| anyhow::anyhow!("cannot set the port of the database URL"))?;
        let counts = Arc::new(WireCounts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        std::thread::Builder::new()
            .name("count-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect((upstream.0.as_str(), upstream.1)) else {
                        continue;
                    };
                    let counts = c.clone();
                    let _ = std::thread::Builder::new()
                        .name("count-proxy-conn".into())
                        .spawn(move || proxy_connection(client, server, &counts));
                }
            })?;
        Ok(CountingProxy {
            url: url.to_string(),
            port,
            counts,
            stop,
        })
    }

    fn counts(&self) -> Counted {
        let c = &self.counts;
        Counted {
            statements: c.statements.load(Ordering::Relaxed),
            request: c.request.load(Ordering::Relaxed),
            request_checks: c.request_checks.load(Ordering::Relaxed),
            background: c.background.load(Ordering::Relaxed),
            unattributed: c.unattributed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Relays one connection: server → client verbatim on a thread, client → server
/// message by message, counting.
fn proxy_connection(client: TcpStream, server: TcpStream, counts: &WireCounts) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(mut server_read), Ok(mut client_write)) = (server.try_clone(), client.try_clone())
    else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_read, &mut client_write);
        let _ = client_write.shutdown(std::net::Shutdown::Both);
    });
    let mut checkouts = Checkouts::new(counts);
    let _ = relay_frontend(&client, &server, &mut checkouts);
    checkouts.close();
    let _ = server.shutdown(std::net::Shutdown::Both);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = back.join();
}

/// Whom a checkout worked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charge {
    Request,
    Background,
}

/// Which statements of one connection belong to which checkout, and what each
/// checkout is charged to.
struct Checkouts<'a> {
    counts: &'a WireCounts,
    /// Prepared statements by name → their SQL (lower case).
    prepared: std::collections::HashMap<Vec<u8>, String>,
    /// Portals by name → their statement's name.
    portals: std::collections::HashMap<Vec<u8>, Vec<u8>>,
    /// The open checkout: its charge once known, its statements until then, and
    /// whether it began with a pool check.
    charge: Option<Charge>,
    pending: u64,
    checked: bool,
}

impl<'a> Checkouts<'a> {
    fn new(counts: &'a WireCounts) -> Self {
        Checkouts {
            counts,
            prepared: Default::default(),
            portals: Default::default(),
            charge: None,
            pending: 0,
            checked: false,
        }
    }

    /// A pool check: the previous checkout ends, a new one begins.
    fn check(&mut self) {
        self.close();
        self.checked = true;
        self.counts.statements.fetch_add(1, Ordering::Relaxed);
        self.pending = 1;
    }

    /// One statement of the open checkout.
    fn statement(&mut self, sql: &str) {
        self.counts.statements.fetch_add(1, Ordering::Relaxed);
        if sql.trim_start().starts_with("set ") {
            // Session set-up of a new connection (time zone, encoding): the pool's work.
            self.counts.background.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let named = |tables: &[&str]| tables.iter().any(|t| sql.contains(t));
        if self.charge.is_none() {
            if named(&REQUEST_TABLES) {
                self.charge = Some(Charge::Request);
                if self.checked {
                    self.counts.request_checks.fetch_add(1, Ordering::Relaxed);
                }
            } else if named(&BACKGROUND_TABLES) {
                self.charge = Some(Charge::Background);
            }
        }
        self.pending += 1;
        if let Some(charge) = self.charge {
            let counter = match charge {
                Charge::Request => &self.counts.request,
                Charge::Background => &self.counts.background,
            };
            counter.fetch_add(self.pending, Ordering::Relaxed);
            self.pending = 0;
        }
    }

    /// The open checkout ends; statements not charged yet are unattributed.
    fn close(&mut self) {
        self.counts
            .unattributed
            .fetch_add(self.pending, Ordering::Relaxed);
        self.pending = 0;
        self.charge = None;
        self.checked = false;
    }

    /// Reads one frontend message (type, body).
    fn message(&mut self, kind: u8, body: &[u8]) {
        let cstr = |at: usize| -> (&[u8], usize) {
            let rest = body.get(at..).unwrap_or_default();
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            (&rest[..end], at + end + 1)
        };
        match kind {
            b'Q' => {
                let (sql, _) = cstr(0);
                if sql.trim_ascii().eq_ignore_ascii_case(b"SELECT 1") {
                    self.check();
                } else {
                    self.statement(&String::from_utf8_lossy(sql).to_lowercase());
                }
            }
            b'P' => {
                let (name, next) = cstr(0);
                let (sql, _) = cstr(next);
                self.prepared
                    .insert(name.to_vec(), String::from_utf8_lossy(sql).to_lowercase());
            }
            b'B' => {
                let (portal, next) = cstr(0);
                let (statement, _) = cstr(next);
                self.portals.insert(portal.to_vec(), statement.to_vec());
            }
            b'E' => {
                let (portal, _) = cstr(0);
                let sql = self
                    .portals
                    .get(portal)
                    .and_then(|s| self.prepared.get(s))
                    .cloned()
                    .unwrap_or_default();
                self.statement(&sql);
            }
            _ => {}
        }
    }
}

fn relay_frontend(
    client: &TcpStream,
    mut server: &TcpStream,
    checkouts: &mut Checkouts<'_>,
) -> std::io::Result<()> {
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not the PostgreSQL protocol",
        )
    };
    let mut input = BufReader::with_capacity(64 * 1024, client);
    let mut reply = client;
    // Start-up: length-prefixed packets without a type byte; TLS and GSS encryption are
    // declined ('N'), and the client carries on in plain text on the same connection.
    loop {
        let mut len = [0u8; 4];
        input.read_exact(&mut len)?;
        let n = u32::from_be_bytes(len) as usize;
        if !(8..=65_536).contains(&n) {
            return Err(bad());
        }
        let mut body = vec![0u8; n - 4];
        input.read_exact(&mut body)?;
        let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            reply.write_all(b"N")?;
            continue;
        }
        let mut packet = len.to_vec();
        packet.extend_from_slice(&body);
        server.write_all(&packet)?;
        if code == CANCEL_REQUEST {
            return Ok(());
        }
        break;
    }
    // Then typed messages: one byte, a length that counts itself, the body.
    let mut message = Vec::with_capacity(1024);
    loop {
        let mut head = [0u8; 5];
        input.read_exact(&mut head)?;
        let n = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(4..=1 << 30).contains(&n) {
            return Err(bad());
        }
        message.clear();
        message.extend_from_slice(&head);
        message.resize(5 + n - 4, 0);
        input.read_exact(&mut message[5..])?;
        checkouts.message(head[0], &message[5..]);
        server.write_all(&message)?;
        if head[0] == b'X' {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let times: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&times);
        assert_eq!((p.n, p.p50, p.p99, p.max), (100, 50.0, 99.0, 100.0));
        let p = Percentiles::of(&[3.0]);
        assert_eq!((p.p50, p.p99), (3.0, 3.0));
        assert_eq!(Percentiles::of(&[]).p99, 0.0);
    }

    #[test]
    fn offsets_stay_within_the_rows() {
        let all = offsets(33_334, 100, 305);
        assert!(all.iter().all(|&o| o < 33_334 && o % 100 == 0));
        let distinct: std::collections::BTreeSet<_> = all.iter().collect();
        assert!(distinct.len() > 250, "{}", distinct.len());
        assert_eq!(offsets(0, 100, 3), vec![0, 0, 0]);
    }

    #[test]
    fn the_proxy_charges_each_checkout_by_the_tables_it_names() {
        // A fake server that swallows everything.
        let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = upstream.local_addr().expect("addr").port();
        let sink = std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().expect("accept");
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            all
        });
        let proxy =
            CountingProxy::start(&format!("postgres://u@127.0.0.1:{port}/db")).expect("proxy");
        let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).expect("connect");
        let mut ssl = 8u32.to_be_bytes().to_vec();
        ssl.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        c.write_all(&ssl).expect("ssl");
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).expect("answer");
        assert_eq!(&answer, b"N");
        let mut startup = 9u32.to_be_bytes().to_vec();
        startup.extend_from_slice(&196_608u32.to_be_bytes());
        startup.push(0);
        let msg = |t: u8, body: &[u8]| {
            let mut m = vec![t];
            m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
            m.extend_from_slice(body);
            m
        };
        let check = msg(b'Q', b"SELECT 1\0");
        let execute = msg(b'E', b"\0\0\0\0\0");
        let mut sent = startup.clone();
        for m in [
            // A request's checkout: a prepared statement on auth_tokens.
            check.clone(),
            msg(b'P', b"s1\0UPDATE auth_tokens SET x = 1\0\0\0"),
            msg(b'B', b"\0s1\0\0\0\0\0\0\0"),
            execute.clone(),
            msg(b'S', b""),
            // The background's: an unnamed statement on servers.
            check.clone(),
            msg(b'P', b"\0UPDATE \"servers\" SET y = $1\0\0\0"),
            msg(b'B', b"\0\0\0\0\0\0\0\0"),
            execute.clone(),
            // The request's prepared statement again, in a transaction.
            check.clone(),
            msg(b'Q', b"BEGIN\0"),
            msg(b'B', b"\0s1\0\0\0\0\0\0\0"),
            execute.clone(),
            msg(b'Q', b"COMMIT\0"),
            // Neither, after a new connection's set-up.
            msg(b'Q', b"SET TIME ZONE 'UTC'\0"),
            check.clone(),
            msg(b'Q', b"SELECT now()\0"),
            msg(b'X', b""),
        ] {
            sent.extend_from_slice(&m);
        }
        c.write_all(&sent).expect("write");
        let forwarded = sink.join().expect("sink");
        // Everything but the declined TLS request reached the server, unchanged.
        assert_eq!(forwarded, sent);
        assert_eq!(
            proxy.counts(),
            Counted {
                statements: 11,
                request: 6,
                request_checks: 2,
                background: 3,
                unattributed: 2,
            }
        );
    }
}
