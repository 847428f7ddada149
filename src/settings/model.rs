//! The typed settings a node runs with. Built only by [`super::Settings::load`], so a
//! value of these types is always valid.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// `server:` — who this node is and where it keeps its files.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    /// Display name; defaults to the host name.
    pub name: String,
    /// Zone this server belongs to.
    pub zone: String,
    /// Region number, 0–999.
    pub region: i64,
    /// Directory for the guid, lock file, key and default SQLite database.
    pub data_dir: PathBuf,
    /// Heartbeat period.
    #[serde(with = "human_duration")]
    pub heartbeat_interval: Duration,
    /// Age of the last heartbeat after which a server is `not_responding`.
    #[serde(with = "human_duration")]
    pub heartbeat_timeout: Duration,
    /// Deadline for a graceful stop.
    #[serde(with = "human_duration")]
    pub shutdown_timeout: Duration,
    /// Process RSS (bytes) above which the worker holding the most memory is restarted.
    #[serde(with = "human_size")]
    pub memory_threshold: u64,
    /// The key that encrypts credentials at rest.
    pub key_file: PathBuf,
}

/// Where the region database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A `postgres://` URL, kept whole for libpq.
    Postgres(String),
    /// An SQLite database file.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://path` or a bare path.
    /// An empty value means `steward.sqlite3` in `data_dir`.
    pub fn parse(text: &str, data_dir: &std::path::Path) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(DatabaseUrl::Sqlite(data_dir.join("steward.sqlite3")));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("`sqlite://` needs a file path after it".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "unsupported database scheme `{scheme}` (use postgres://, sqlite:// or a file path)"
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(text)))
    }

    /// The URL with any password replaced by `****`, safe to print and log.
    pub fn masked(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => mask_url_password(url),
        }
    }

    /// `postgresql` or `sqlite`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Postgres(_) => "postgresql",
            DatabaseUrl::Sqlite(_) => "sqlite",
        }
    }
}

/// Replaces the password of `scheme://user:password@host…` with `****`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:****@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
    .replace_password_param()
}

trait ReplacePasswordParam {
    fn replace_password_param(self) -> String;
}

impl ReplacePasswordParam for String {
    /// Masks a `password=` query parameter too (libpq accepts one).
    fn replace_password_param(self) -> String {
        let Some((base, query)) = self.split_once('?') else {
            return self;
        };
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        format!("{base}?{query}")
    }
}

/// `database:` — the region database.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    /// Connections in this node's pool.
    pub pool_size: u32,
    /// Wait for a connection before calling the database unreachable.
    pub connect_timeout: Duration,
}

/// `roles:` — which server roles this node runs.
#[derive(Debug, Clone, Serialize)]
pub struct RoleSettings {
    /// Role names this node runs (validated against the catalogue).
    pub enabled: Vec<String>,
    /// Roles this node holds as primary (priority 1).
    pub primary: Vec<String>,
    /// Lease of a single-active role, renewed on each heartbeat.
    #[serde(with = "human_duration")]
    pub lease_duration: Duration,
}

impl RoleSettings {
    /// Priority of `role` on this node: 1 (primary) or 2 (secondary).
    pub fn priority_of(&self, role: &str) -> i32 {
        if self.primary.iter().any(|r| r == role) {
            1
        } else {
            2
        }
    }
}

/// `workers.<type>:` — one worker type's pool on this node.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerTypeSettings {
    /// Workers of this type on this node.
    pub count: u32,
    /// Memory (bytes) above which a worker is restarted.
    pub memory_threshold: u64,
    /// Time without progress after which a worker is replaced.
    #[serde(with = "human_duration")]
    pub heartbeat_timeout: Duration,
    /// Uptime after which a worker is restarted gracefully; zero = never.
    #[serde(with = "human_duration")]
    pub restart_interval: Duration,
}

/// `queue:` — claiming, completion batching, retention and logging of messages.
#[derive(Debug, Clone, Serialize)]
pub struct QueueSettings {
    #[serde(with = "human_duration")]
    pub poll_interval: Duration,
    pub claim_batch: u32,
    pub mailbox_per_worker: u32,
    pub completion_batch: u32,
    #[serde(with = "human_duration")]
    pub completion_flush: Duration,
    #[serde(with = "human_duration")]
    pub keep_finished: Duration,
    #[serde(with = "human_duration")]
    pub purge_interval: Duration,
    pub purge_batch: u32,
    #[serde(with = "human_duration")]
    pub stats_interval: Duration,
    pub max_attempts: u32,
    pub log_messages: bool,
    pub diagnostic_commands: bool,
    /// Largest JSON `args` a message may carry, in bytes.
    pub max_args_bytes: usize,
}

/// `ems_refresh:` — inventory refresh of providers.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshSettings {
    #[serde(with = "human_duration")]
    pub refresh_interval: Duration,
    pub watch: bool,
    #[serde(with = "human_duration")]
    pub watch_batch_window: Duration,
    pub page_size: u32,
    pub get_container_images: bool,
    pub store_unused_images: bool,
    #[serde(with = "human_duration")]
    pub connect_timeout: Duration,
    #[serde(with = "human_duration")]
    pub request_timeout: Duration,
    #[serde(with = "human_duration")]
    pub timeout: Duration,
    #[serde(with = "human_duration")]
    pub retry_backoff: Duration,
    #[serde(with = "human_duration")]
    pub retry_backoff_max: Duration,
    pub keep_refreshes: u32,
}

/// `providers:` — what a registered kubeconfig may make the node do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderSettings {
    /// Commands an `exec` credential plugin may run (exact match).
    pub exec_allowed_commands: Vec<String>,
    /// Directories kubeconfig file references (tokenFile, client-certificate, …) may
    /// point into.
    pub credential_file_dirs: Vec<std::path::PathBuf>,
    /// Where an `in_cluster` provider finds the pod's service account (`token`,
    /// `ca.crt`, `namespace`).
    pub service_account_dir: std::path::PathBuf,
}

/// `metrics:` — capacity & utilization capture, rollups and retention.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsSettings {
    #[serde(with = "human_duration")]
    pub coordinator_interval: Duration,
    #[serde(with = "human_duration")]
    pub capture_threshold: Duration,
    #[serde(with = "human_duration")]
    pub capture_threshold_container: Duration,
    #[serde(with = "human_duration")]
    pub capture_threshold_container_group: Duration,
    #[serde(with = "human_duration")]
    pub capture_threshold_container_node: Duration,
    pub capture_batch: u32,
    #[serde(with = "human_duration")]
    pub realtime_interval: Duration,
    #[serde(with = "human_duration")]
    pub initial_capture_window: Duration,
    #[serde(with = "human_duration")]
    pub capture_requeue_after: Duration,
    #[serde(with = "human_duration")]
    pub prometheus_connect_timeout: Duration,
    #[serde(with = "human_duration")]
    pub prometheus_request_timeout: Duration,
    #[serde(with = "human_duration")]
    pub keep_realtime: Duration,
    #[serde(with = "human_duration")]
    pub keep_hourly: Duration,
    #[serde(with = "human_duration")]
    pub keep_daily: Duration,
    #[serde(with = "human_duration")]
    pub purge_interval: Duration,
}

impl MetricsSettings {
    /// The capture threshold of a resource type.
    pub fn threshold(&self, resource_type: &str) -> Duration {
        match resource_type {
            "container" => self.capture_threshold_container,
            "container_group" => self.capture_threshold_container_group,
            "container_node" => self.capture_threshold_container_node,
            _ => self.capture_threshold,
        }
    }
}

/// `supervision:` — how worker pools watch and restart their workers.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisionSettings {
    #[serde(with = "human_duration")]
    pub monitor_interval: Duration,
    #[serde(with = "human_duration")]
    pub restart_backoff: Duration,
    #[serde(with = "human_duration")]
    pub restart_backoff_max: Duration,
    /// A node component restarted more often than this within `component_restart_window`
    /// stops the node (non-zero exit) instead of leaving it half-alive.
    pub component_max_restarts: u32,
    #[serde(with = "human_duration")]
    pub component_restart_window: Duration,
}

/// `web:` — the HTTP listener.
#[derive(Debug, Clone, Serialize)]
pub struct WebSettings {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// The URL clients reach this node at (hrefs are built from it); `None` = from
    /// the bound address.
    pub external_url: Option<String>,
    /// Largest request body accepted (bytes); larger ones get 413.
    pub max_body: usize,
    /// The kernel send buffer of each accepted connection (bytes; 0: the kernel's own,
    /// autotuned up to `net.ipv4.tcp_wmem`). What a websocket client that stops reading
    /// can hold besides its `websocket.client_buffer`.
    pub send_buffer: usize,
}

/// `api:` — logins, tokens and limits of the REST API.
#[derive(Debug, Clone, Serialize)]
pub struct ApiSettings {
    /// How long an API token lives without use; each use renews it.
    #[serde(with = "human_duration")]
    pub token_ttl: Duration,
    /// Failed logins in a row that lock an account.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked.
    #[serde(with = "human_duration")]
    pub lockout: Duration,
    /// Failed logins from one address within `login_rate_window` before it gets 429.
    pub login_rate_limit: u32,
    #[serde(with = "human_duration")]
    pub login_rate_window: Duration,
    /// Whether `/metrics` needs a login.
    pub metrics_require_login: bool,
    /// A bulk delete of more objects than this needs `"confirm": true`.
    pub bulk_confirm_threshold: u32,
}

/// `events:` — the providers' event catchers and handlers (role `event`).
#[derive(Debug, Clone, Serialize)]
pub struct EventSettings {
    /// Events gathered before they are queued together for the handler.
    #[serde(with = "human_duration")]
    pub batch_window: Duration,
    /// Most events in one queued batch.
    pub batch_max: usize,
    /// Identical events from one object beyond this many within `storm_window` are
    /// counted on one row (0: never folded).
    pub storm_threshold: u32,
    #[serde(with = "human_duration")]
    pub storm_window: Duration,
    /// After a catcher failure, retry after this delay, doubling up to the cap.
    #[serde(with = "human_duration")]
    pub retry_backoff: Duration,
    #[serde(with = "human_duration")]
    pub retry_backoff_max: Duration,
    /// Longest a handler may take over one batch.
    #[serde(with = "human_duration")]
    pub handler_timeout: Duration,
    /// Steward's built-in policies (pod, node and replicator events refresh their
    /// object) are on.
    pub default_policies: bool,
    /// The folder of the node's policy files (`*.yaml`): as written; empty means
    /// `policies/` next to the node's settings file.
    pub policy_dir: String,
    /// Events older than this are purged (role `database_operations`).
    #[serde(with = "human_duration")]
    pub keep_events: Duration,
    /// How often retention runs, and how many rows one delete takes.
    #[serde(with = "human_duration")]
    pub purge_interval: Duration,
    pub purge_batch: u32,
}

/// `alerts:` — Steward's control alerts and the alerts' retention.
#[derive(Debug, Clone, Serialize)]
pub struct AlertSettings {
    /// How often the control alerts are checked.
    #[serde(with = "human_duration")]
    pub control_interval: Duration,
    /// Percent of the data directory's disk above which it is reported.
    pub disk_usage_threshold: u32,
    /// Resolved alerts older than this are purged.
    #[serde(with = "human_duration")]
    pub keep_resolved: Duration,
    /// Delivered or given-up notifications (and their attempts) older than this are
    /// purged.
    #[serde(with = "human_duration")]
    pub keep_notifications: Duration,
}

/// `notifier:` — delivery of webhooks and e-mails (role `notifier`).
#[derive(Debug, Clone, Serialize)]
pub struct NotifierSettings {
    /// How often the outbox is looked at.
    #[serde(with = "human_duration")]
    pub poll_interval: Duration,
    /// After a failed attempt, retry after this delay, doubling up to the cap.
    #[serde(with = "human_duration")]
    pub retry_backoff: Duration,
    #[serde(with = "human_duration")]
    pub retry_backoff_max: Duration,
    /// A notification not delivered this long after it was made is given up (`failed`).
    #[serde(with = "human_duration")]
    pub give_up_after: Duration,
    /// Failed attempts in a row after which a target is reported by an alert.
    pub alert_after_failures: u32,
    /// One webhook request may take this long.
    #[serde(with = "human_duration")]
    pub webhook_timeout: Duration,
    /// SMTP server for e-mail (empty: e-mail notifications fail, and say why).
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`.
    pub smtp_tls: String,
    pub smtp_username: String,
    #[serde(skip)]
    pub smtp_password: secrecy::SecretString,
    /// The sender's address.
    pub from: String,
}

/// `websocket:` — the live feed behind `GET /ws`.
#[derive(Debug, Clone, Serialize)]
pub struct WebsocketSettings {
    /// How often the queue's counts are pushed to subscribers.
    #[serde(with = "human_duration")]
    pub queue_interval: Duration,
    /// How often the servers are checked for changes to push.
    #[serde(with = "human_duration")]
    pub servers_interval: Duration,
    /// How often the inventory change log is read when no wake-up came (NOTIFY on
    /// PostgreSQL, this node's own refreshes).
    #[serde(with = "human_duration")]
    pub inventory_poll: Duration,
    /// How long inventory change-log rows are kept before they are purged.
    #[serde(with = "human_duration")]
    pub change_retention: Duration,
    /// Events held for a client that reads slower than they come; one that falls
    /// further behind is told and dropped.
    pub client_buffer: usize,
    /// Recent events kept so that a reconnecting client can resume.
    pub replay: usize,
    /// How often idle connections are pinged (closed after three silent intervals).
    #[serde(with = "human_duration")]
    pub ping_interval: Duration,
    /// How often a connected caller's credentials and rights are checked again.
    #[serde(with = "human_duration")]
    pub recheck_interval: Duration,
    /// Port of the live feed's own listener (on `web.bind`); 0 picks a free one.
    pub port: u16,
    /// The URL clients reach that listener at; `None`: `ws://<the host the console
    /// was loaded from>:<port>/ws`.
    pub external_url: Option<String>,
    /// Read buffer of each connection of the listener (bytes), allocated up front.
    pub read_buffer: usize,
    /// Largest frame the listener writes (bytes): longer messages go out in pieces,
    /// so a connection's write buffer never holds more.
    pub write_buffer: usize,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `log:` — tracing output.
#[derive(Debug, Clone, Serialize)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

/// Worker settings by worker type name.
pub type WorkerSettingsMap = BTreeMap<String, WorkerTypeSettings>;

pub(crate) mod human_size {
    pub fn serialize<S: serde::Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::super::format_size(*bytes))
    }
}

pub(crate) mod human_duration {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::super::format_duration(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn database_url_accepts_postgres_sqlite_and_paths() {
        let dir = Path::new("/var/lib/steward");
        assert_eq!(
            DatabaseUrl::parse("", dir),
            Ok(DatabaseUrl::Sqlite(dir.join("steward.sqlite3")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db", dir),
            Ok(DatabaseUrl::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("data/x.db", dir),
            Ok(DatabaseUrl::Sqlite("data/x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db", dir),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://h/db", dir).is_err());
    }

    #[test]
    fn masked_url_never_shows_the_password() {
        let url = DatabaseUrl::Postgres("postgres://app:s3cret@db:5432/steward".into());
        assert_eq!(url.masked(), "postgres://app:****@db:5432/steward");
        let url = DatabaseUrl::Postgres("postgres://db/steward?user=a&password=s3cret".into());
        assert_eq!(url.masked(), "postgres://db/steward?user=a&password=****");
        assert!(!url.masked().contains("s3cret"));
    }
}
