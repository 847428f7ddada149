//! Steward's own control alerts (the seed's §9.2.3 server and worker alerts), checked
//! every `alerts.control_interval`:
//!
//! | alert | raised when | resolved when |
//! |---|---|---|
//! | `server_not_responding` | a started server's heartbeat is older than `server.heartbeat_timeout` | it beats again, or stopped |
//! | `server_memory_exceeded` | a server's RSS is above `server.memory_threshold` | it is below |
//! | `worker_memory_exceeded`, `worker_not_responding`, `worker_killed` | a worker was restarted for that reason | by an operator |
//! | `role_failed_over` | a single-active role moved to another server | by an operator |
//! | `provider_error` | a provider's status is `error` (unreachable, refresh failing) | it is `ok` again |
//! | `data_dir_disk_full` | this node's data directory's disk is fuller than `alerts.disk_usage_threshold` | it is not |
//! | `database_disk_full` | the database's disk (SQLite's file elsewhere than the data directory, or a PostgreSQL server on the node's host that names its data directory) is as full | it is not |
//!
//! Region-wide checks run on the server holding `notifier` (one per region); the disk
//! checks run on every node for the disks it can see. Open alerts are unique per fingerprint,
//! so two checkers never duplicate one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use diesel::prelude::*;
use tokio::sync::watch;

use super::{NewAlert, SOURCE_STEWARD, open_fingerprints, raise, resolve_open};
use crate::db::schema::{
    assigned_server_roles as asr, providers as pv, server_roles as sr, servers as sv,
    workers as wk, zones as zn,
};
use crate::db::{Db, DbConnection, DbError};
use crate::queue::RoutesChanged;
use crate::settings::Settings;
use crate::supervision::{Component, ComponentContext, ComponentFuture};
use crate::with_backend;

/// What the checker remembers between rounds (a rebuilt checker starts afresh: its
/// first round only takes note).
#[derive(Default)]
struct Memory {
    /// Worker id → restarts seen.
    restarts: HashMap<i64, i32>,
    /// (role, zone) → holding server's name.
    holders: HashMap<(String, String), String>,
    primed: bool,
}

#[derive(Clone)]
pub struct ControlAlerts {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub server_name: String,
    pub data_dir: PathBuf,
    pub routes: watch::Receiver<RoutesChanged>,
}

/// A control alert about `subject`.
fn control(name: &str, subject: &str, severity: &str, description: String) -> NewAlert {
    NewAlert {
        source: SOURCE_STEWARD,
        name: name.to_string(),
        fingerprint: format!("{name}:{subject}"),
        severity: severity.into(),
        description,
        url: String::new(),
        provider_id: None,
        container_node_id: None,
        container_group_id: None,
        container_project_id: None,
        target_kind: "server".into(),
        target_name: subject.to_string(),
        labels: "{}".into(),
        event_stream_id: None,
        started_on: crate::clock::now(),
    }
}

/// Raises the alerts of `firing` named `name`, and resolves the open ones of that name
/// whose fingerprint is not among them.
fn reconcile(conn: &mut DbConnection, name: &str, firing: Vec<NewAlert>) -> Result<(), DbError> {
    let prefix = format!("{name}:");
    let open = open_fingerprints(conn, SOURCE_STEWARD, &prefix)?;
    for stale in open
        .iter()
        .filter(|f| !firing.iter().any(|a| &a.fingerprint == *f))
    {
        resolve_open(conn, SOURCE_STEWARD, stale)?;
    }
    for a in &firing {
        raise(conn, a)?;
    }
    Ok(())
}

/// Classifies a worker's exit reason; `None` for a normal restart.
fn worker_alert(reason: &str) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    if r.is_empty()
        || r.contains("uptime")
        || r.contains("stopping")
        || r.contains("mailbox closed")
    {
        None
    } else if r.contains("memory") {
        Some("worker_memory_exceeded")
    } else if r.contains("heartbeat") || r.contains("timeout") || r.contains("not responding") {
        Some("worker_not_responding")
    } else {
        Some("worker_killed")
    }
}

type WorkerRow = (i64, String, i32, i32, String, String);

impl ControlAlerts {
    fn holds_notifier(&self) -> bool {
        self.routes
            .borrow()
            .active_roles
            .iter()
            .any(|r| r == "notifier")
    }

    fn region_checks(&self, conn: &mut DbConnection, memory: &mut Memory) -> Result<(), DbError> {
        let now = crate::clock::now();
        let stale_after = chrono::Duration::from_std(self.settings.server.heartbeat_timeout)
            .unwrap_or(chrono::Duration::MAX);
        let servers: Vec<(String, String, Option<chrono::NaiveDateTime>, i64)> = with_backend!(conn, c => sv::table
            // A silent server is marked `not_responding` by its peers; it is reported
            // until it beats again or is stopped.
            .filter(sv::status.eq_any(["started", "not_responding"]))
            .select((sv::guid, sv::name, sv::last_heartbeat, sv::memory_rss))
            .load(c))?;
        let silent = servers
            .iter()
            .filter(|(_, _, beat, _)| beat.is_none_or(|b| now - b > stale_after))
            .map(|(_, name, beat, _)| {
                control(
                    "server_not_responding",
                    name,
                    "error",
                    format!(
                        "Server {name} has not heart-beaten since {}",
                        beat.map_or("it started".into(), |b| crate::json::format_utc(&b))
                    ),
                )
            })
            .collect();
        reconcile(conn, "server_not_responding", silent)?;
        let limit = self.settings.server.memory_threshold;
        let heavy = servers
            .iter()
            .filter(|(_, _, _, rss)| limit > 0 && *rss as u64 > limit)
            .map(|(_, name, _, rss)| {
                control(
                    "server_memory_exceeded",
                    name,
                    "warning",
                    format!(
                        "Server {name} uses {} (limit {})",
                        crate::settings::format_size(*rss as u64),
                        crate::settings::format_size(limit)
                    ),
                )
            })
            .collect();
        reconcile(conn, "server_memory_exceeded", heavy)?;

        let workers: Vec<WorkerRow> = with_backend!(conn, c => wk::table
            .inner_join(sv::table)
            .select((wk::id, wk::worker_type, wk::slot, wk::restarts, wk::last_exit_reason, sv::name))
            .load(c))?;
        for (id, kind, slot, restarts, reason, server) in workers {
            let before = memory.restarts.insert(id, restarts);
            let restarted = before.is_some_and(|b| restarts > b);
            if !(memory.primed && restarted) {
                continue;
            }
            if let Some(name) = worker_alert(&reason) {
                let subject = format!("{server}/{kind}-{slot}");
                raise(
                    conn,
                    &control(
                        name,
                        &subject,
                        "warning",
                        format!("Worker {kind}-{slot} on {server} was restarted: {reason}"),
                    ),
                )?;
            }
        }

        let holders: Vec<(String, String, String)> = with_backend!(conn, c => asr::table
            .inner_join(sr::table)
            .inner_join(sv::table.inner_join(zn::table))
            .filter(asr::active.eq(true))
            .filter(sr::max_concurrent.eq(1))
            .select((sr::name, zn::name, sv::name))
            .load(c))?;
        for (role, zone, server) in holders {
            let before = memory
                .holders
                .insert((role.clone(), zone.clone()), server.clone());
            if let Some(previous) = before.filter(|p| memory.primed && *p != server) {
                raise(
                    conn,
                    &control(
                        "role_failed_over",
                        &format!("{role}/{zone}"),
                        "warning",
                        format!("Role {role} of zone {zone} moved from {previous} to {server}"),
                    ),
                )?;
            }
        }

        let failing: Vec<(i64, String, String)> = with_backend!(conn, c => pv::table
            .filter(pv::status.eq("error"))
            .select((pv::id, pv::name, pv::status_message))
            .load(c))?;
        let failing = failing
            .into_iter()
            .map(|(id, name, why)| NewAlert {
                provider_id: Some(id),
                target_kind: "provider".into(),
                ..control(
                    "provider_error",
                    &name,
                    "error",
                    format!("Provider {name}: {}", crate::text::elide(&why, 512)),
                )
            })
            .collect();
        reconcile(conn, "provider_error", failing)?;
        memory.primed = true;
        Ok(())
    }

    /// The database's disk, when this node can see it and it is not the data
    /// directory's (reported by `data_dir_disk_full` then). A node that cannot see it
    /// neither raises nor resolves.
    fn database_disk_check(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        let Some((subject, dir)) = database_files(conn, &self.settings.database.url)? else {
            return Ok(());
        };
        let Some((used, mount)) = disk_usage(&dir) else {
            return Ok(());
        };
        if disk_usage(&self.data_dir).is_some_and(|(_, m)| m == mount)
            && matches!(
                self.settings.database.url,
                crate::settings::DatabaseUrl::Sqlite(_)
            )
        {
            return Ok(());
        }
        self.report_disk(conn, "database_disk_full", &subject, Some(used), || {
            format!(
                "The disk of the database ({subject}, mounted at {mount}) is {:.0}% full",
                used * 100.0
            )
        })
    }

    /// Raises the disk alert `name` about `subject` when the disk is `used` (0–1) beyond
    /// the threshold, resolves it otherwise (`None`: not known).
    fn report_disk(
        &self,
        conn: &mut DbConnection,
        name: &str,
        subject: &str,
        used: Option<f64>,
        description: impl FnOnce() -> String,
    ) -> Result<(), DbError> {
        let threshold = f64::from(self.settings.alerts.disk_usage_threshold);
        if used.is_some_and(|u| u * 100.0 >= threshold) {
            raise(conn, &control(name, subject, "error", description()))?;
        } else {
            resolve_open(conn, SOURCE_STEWARD, &format!("{name}:{subject}"))?;
        }
        Ok(())
    }

    /// This node's data directory's disk.
    fn disk_check(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        let subject = self.server_name.clone();
        let found = disk_usage(&self.data_dir);
        let used = found.as_ref().map(|(u, _)| *u);
        self.report_disk(conn, "data_dir_disk_full", &subject, used, || {
            let (used, mount) = found.unwrap_or_default();
            format!(
                "The disk of {} (data directory of {subject}, mounted at {mount}) is {:.0}% full",
                self.data_dir.display(),
                used * 100.0
            )
        })
    }
}

/// The database's files, when this node can see their disk: SQLite's file, or the
/// data directory of a PostgreSQL server on this host that tells it (a superuser, or
/// a member of `pg_read_all_settings`). Answers what to call it and where it is.
fn database_files(
    conn: &mut DbConnection,
    url: &crate::settings::DatabaseUrl,
) -> Result<Option<(String, PathBuf)>, DbError> {
    use crate::settings::DatabaseUrl;
    match url {
        DatabaseUrl::Sqlite(path) => Ok(Some((
            path.display().to_string(),
            path.parent().map(PathBuf::from).unwrap_or_default(),
        ))),
        DatabaseUrl::Postgres(text) => {
            if !is_local(text) {
                return Ok(None);
            }
            #[derive(diesel::QueryableByName)]
            struct Setting {
                #[diesel(sql_type = diesel::sql_types::Text)]
                setting: String,
            }
            let found: Vec<Setting> = with_backend!(conn, c => diesel::sql_query(
                "SELECT setting FROM pg_settings WHERE name = 'data_directory'",
            )
            .load(c))?;
            Ok(found.into_iter().next().map(|s| {
                (
                    format!("PostgreSQL {}", s.setting),
                    PathBuf::from(s.setting),
                )
            }))
        }
    }
}

/// Whether a `postgres://` URL names a server on this host (loopback, or a socket).
fn is_local(url: &str) -> bool {
    // `postgres:` is not a special scheme: its host comes back as text.
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let host = u
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.is_empty()
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How full the disk holding `dir` is (0–1), and its mount point.
fn disk_usage(dir: &std::path::Path) -> Option<(f64, String)> {
    let dir = dir.canonicalize().ok()?;
    let disks = sysinfo::Disks::new_with_refreshed_list().ok()?;
    let disk = disks
        .iter()
        .filter(|d| dir.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())?;
    let total = disk.total_space();
    (total > 0).then(|| {
        (
            1.0 - disk.available_space() as f64 / total as f64,
            disk.mount_point().display().to_string(),
        )
    })
}

impl Component for ControlAlerts {
    fn name(&self) -> &'static str {
        "control_alerts"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        let me = self.clone();
        Box::pin(async move {
            let memory = Arc::new(std::sync::Mutex::new(Memory::default()));
            loop {
                let region = me.holds_notifier();
                let checker = me.clone();
                let memory = memory.clone();
                let result = me
                    .db
                    .run(move |conn| {
                        checker.disk_check(conn)?;
                        checker.database_disk_check(conn)?;
                        if region {
                            let mut m = memory.lock().unwrap_or_else(|p| p.into_inner());
                            checker.region_checks(conn, &mut m)?;
                        }
                        Ok(())
                    })
                    .await;
                if let Err(error) = result {
                    tracing::warn!(%error, "control alert checks failed");
                }
                tokio::select! {
                    _ = ctx.stopped() => return Ok(()),
                    _ = tokio::time::sleep(me.settings.alerts.control_interval) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_exits_are_classified() {
        assert_eq!(worker_alert("uptime above restart_interval"), None);
        assert_eq!(worker_alert("node stopping"), None);
        assert_eq!(worker_alert(""), None);
        assert_eq!(
            worker_alert("memory 2GiB above threshold 1GiB"),
            Some("worker_memory_exceeded")
        );
        assert_eq!(
            worker_alert("no heartbeat for 120s"),
            Some("worker_not_responding")
        );
        assert_eq!(worker_alert("panicked: boom"), Some("worker_killed"));
    }

    #[test]
    fn the_disk_of_a_directory_is_found() {
        let dir = tempfile::tempdir().expect("dir");
        let (used, mount) = disk_usage(dir.path()).expect("a disk");
        assert!((0.0..=1.0).contains(&used), "{used}");
        assert!(!mount.is_empty());
    }

    #[test]
    fn a_local_postgres_url_is_recognised() {
        assert!(is_local("postgres://postgres@127.0.0.1:5432/x"));
        assert!(is_local("postgresql://u@localhost/x"));
        assert!(is_local("postgres://u@[::1]:5432/x"));
        assert!(is_local("postgres:///x?host=/var/run/postgresql"));
        assert!(!is_local("postgres://u@db.example.com/x"));
        assert!(!is_local("postgres://u@10.0.0.5/x"));
        assert!(!is_local("not a url"));
    }
}
