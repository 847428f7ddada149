//! Layering and validation: built-in defaults → node file → environment, then a check
//! that every key is known, then typed reads. The first problem found stops the load.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use config::{Config, ConfigError, Environment, File, FileFormat, Map, Source, Value, ValueKind};

use super::error::SettingsError;
use super::model::{
    AlertSettings, ApiSettings, DatabaseSettings, DatabaseUrl, EventSettings, LogFormat,
    LogSettings, MetricsSettings, NotifierSettings, ProviderSettings, QueueSettings,
    RefreshSettings, RoleSettings, ServerSettings, SupervisionSettings, WebSettings,
    WebsocketSettings, WorkerSettingsMap, WorkerTypeSettings,
};
use super::reader::{DEFAULTS_ORIGIN, Reader, describe_origin, kind_name};
use crate::roles;

/// The documented defaults, compiled into the binary so a node needs no files to start.
pub const DEFAULT_YAML: &str = include_str!("../../settings/default.yaml");

/// Where settings come from besides the built-in defaults.
#[derive(Debug, Clone, Default)]
pub struct SettingsSources {
    /// The node's own YAML file (`--settings FILE`).
    pub file: Option<PathBuf>,
    /// Environment to read `STEWARD__…` variables from; `None` = the process environment.
    pub env: Option<HashMap<String, String>>,
}

/// Everything a node runs with, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub roles: RoleSettings,
    pub queue: QueueSettings,
    pub ems_refresh: RefreshSettings,
    /// What registered kubeconfigs may make a node do.
    pub providers: ProviderSettings,
    pub metrics: MetricsSettings,
    pub supervision: SupervisionSettings,
    /// Worker pools by worker type (`generic`, `priority`, …).
    pub workers: WorkerSettingsMap,
    pub web: WebSettings,
    pub api: ApiSettings,
    pub websocket: WebsocketSettings,
    pub events: EventSettings,
    pub alerts: AlertSettings,
    pub notifier: NotifierSettings,
    /// The event policies (built-in and the node's own files).
    pub policies: Arc<crate::policy::PolicySet>,
    pub log: LogSettings,
    /// The sources that were layered, for `steward settings check`.
    pub layers: Vec<String>,
}

/// The node's policy folder: `events.policy_dir` (relative to the settings file's
/// folder), or `policies/` next to the settings file when it is empty; none without a
/// settings file and a setting.
fn policy_dir(setting: &str, settings_file: Option<&Path>) -> Option<PathBuf> {
    let base = settings_file.and_then(Path::parent);
    match setting.trim() {
        "" => base.map(|b| b.join("policies")),
        dir => {
            let dir = PathBuf::from(dir);
            Some(match base {
                Some(b) if dir.is_relative() => b.join(dir),
                _ => dir,
            })
        }
    }
}

/// Where a node's settings file is looked for when neither `--settings` nor
/// `STEWARD_SETTINGS` names one, in order: the user's
/// (`$XDG_CONFIG_HOME/steward/steward.yaml`, else `~/.config/steward/steward.yaml`),
/// then the machine's (`/etc/steward/steward.yaml`). The first that exists is used.
pub fn default_settings_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(home) = config_home {
        files.push(home.join("steward").join("steward.yaml"));
    }
    files.push(PathBuf::from("/etc/steward/steward.yaml"));
    files
}

impl Settings {
    /// Loads the defaults, the given file (or else the first of
    /// [`default_settings_files`] that exists) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| default_settings_files().into_iter().find(|f| f.is_file()));
        Self::load_from(SettingsSources { file, env: None })
    }

    /// Loads from explicit sources (tests pass a fake environment).
    pub fn load_from(sources: SettingsSources) -> Result<Self, SettingsError> {
        let defaults = Config::builder()
            .add_source(File::from_str(DEFAULT_YAML, FileFormat::Yaml))
            .build()
            .map_err(|e| SettingsError::File {
                file: DEFAULTS_ORIGIN.into(),
                reason: e.to_string(),
            })?;

        let mut layers = vec![DEFAULTS_ORIGIN.to_string()];
        let mut builder = Config::builder().add_source(defaults.clone());
        if let Some(path) = &sources.file {
            check_file_readable(path)?;
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Yaml));
            layers.push(path.display().to_string());
        }
        let env = Environment::with_prefix("STEWARD")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("roles.enabled")
            .with_list_parse_key("roles.primary")
            .with_list_parse_key("providers.exec_allowed_commands")
            .with_list_parse_key("providers.credential_file_dirs")
            .source(sources.env.clone());
        builder = builder.add_source(env);
        layers.push("environment (STEWARD__*)".into());

        let merged = builder
            .build()
            .map_err(|e| file_error(e, sources.file.as_deref()))?;

        let default_tree = defaults.collect().map_err(|e| SettingsError::File {
            file: DEFAULTS_ORIGIN.into(),
            reason: e.to_string(),
        })?;
        let merged_tree = merged
            .collect()
            .map_err(|e| file_error(e, sources.file.as_deref()))?;
        let file_name = sources.file.as_ref().map(|f| f.display().to_string());
        check_known_keys(&default_tree, &merged_tree, "", file_name.as_deref())?;

        let worker_types: Vec<String> = match default_tree.get("workers").map(|v| &v.kind) {
            Some(ValueKind::Table(t)) => sorted_keys(t),
            _ => Vec::new(),
        };
        let mut settings = read_settings(
            &Reader::new(&merged_tree, file_name.clone()),
            &worker_types,
            layers,
        )?;
        let dir = policy_dir(&settings.events.policy_dir, sources.file.as_deref());
        let policies =
            crate::policy::PolicySet::load(settings.events.default_policies, dir.as_deref())
                .map_err(|e| SettingsError::File {
                    file: format!("{}:{}", e.file, e.line),
                    reason: format!("policy: {}", e.reason),
                })?;
        settings.policies = Arc::new(policies);
        Ok(settings)
    }

    /// Settings of one worker type; `None` if the type does not exist.
    pub fn worker(&self, kind: &str) -> Option<&WorkerTypeSettings> {
        self.workers.get(kind)
    }

    /// The number of this region's ids: `region × 10^12`.
    pub fn region_id_base(&self) -> i64 {
        self.server.region * crate::db::ids::REGION_FACTOR
    }
}

fn check_file_readable(path: &Path) -> Result<(), SettingsError> {
    std::fs::read_to_string(path)
        .map(|_| ())
        .map_err(|e| SettingsError::File {
            file: path.display().to_string(),
            reason: format!("cannot be read: {e}"),
        })
}

fn file_error(error: ConfigError, file: Option<&Path>) -> SettingsError {
    match error {
        ConfigError::FileParse { uri, cause } => SettingsError::File {
            // The path as the user gave it (config's `uri` is relative to the cwd).
            file: file
                .map(|f| f.display().to_string())
                .or(uri)
                .unwrap_or_else(|| "settings".into()),
            reason: format!("is not valid YAML: {}", one_line(&cause.to_string())),
        },
        other => SettingsError::File {
            file: file
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "settings".into()),
            reason: one_line(&other.to_string()),
        },
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sorted_keys(table: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = table.keys().cloned().collect();
    keys.sort();
    keys
}

/// Every key of `merged` must exist in `defaults`, with a table where the defaults
/// have a table.
fn check_known_keys(
    defaults: &Map<String, Value>,
    merged: &Map<String, Value>,
    prefix: &str,
    file: Option<&str>,
) -> Result<(), SettingsError> {
    for key in sorted_keys(merged) {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let value = &merged[&key];
        let Some(default) = defaults.get(&key) else {
            return Err(SettingsError::UnknownKey {
                origin: describe_origin(&path, first_leaf(value), file),
                key: path,
            });
        };
        if let ValueKind::Table(default_table) = &default.kind {
            match &value.kind {
                ValueKind::Table(table) => check_known_keys(default_table, table, &path, file)?,
                other => {
                    return Err(SettingsError::Invalid {
                        origin: describe_origin(&path, value, file),
                        reason: format!("expected a table of settings, found {}", kind_name(other)),
                        key: path,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The first leaf of a table: tables themselves may carry no origin.
fn first_leaf(value: &Value) -> &Value {
    match &value.kind {
        ValueKind::Table(t) if value.origin().is_none() => {
            match sorted_keys(t).first().and_then(|k| t.get(k)) {
                Some(child) => first_leaf(child),
                None => value,
            }
        }
        _ => value,
    }
}

fn read_settings(
    r: &Reader<'_>,
    worker_types: &[String],
    layers: Vec<String>,
) -> Result<Settings, SettingsError> {
    let data_dir = r.check("server.data_dir", r.string("server.data_dir")?, |s| {
        if s.trim().is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(())
        }
    })?;
    let data_dir = PathBuf::from(data_dir.trim());

    let name = r.string("server.name")?.trim().to_string();
    let name = if name.is_empty() {
        crate::node::host_name()
    } else {
        name
    };
    let zone = r.check(
        "server.zone",
        r.string("server.zone")?.trim().to_string(),
        |z| {
            if z.is_empty() {
                return Err("must not be empty".into());
            }
            crate::queue::check_zone_name("server.zone", z).map_err(|e| e.reason)
        },
    )?;
    let heartbeat_interval = r.duration("server.heartbeat_interval", Duration::from_millis(100))?;
    let heartbeat_timeout = r.duration("server.heartbeat_timeout", Duration::from_millis(500))?;
    r.check("server.heartbeat_timeout", heartbeat_timeout, |t| {
        if *t > heartbeat_interval {
            Ok(())
        } else {
            Err("must be longer than server.heartbeat_interval".into())
        }
    })?;
    let server = ServerSettings {
        name,
        zone,
        region: r.int_in("server.region", 0, 999)?,
        data_dir: data_dir.clone(),
        heartbeat_interval,
        heartbeat_timeout,
        shutdown_timeout: r.duration("server.shutdown_timeout", Duration::from_millis(100))?,
        memory_threshold: at_least_mib(r, "server.memory_threshold", 16)?,
        key_file: match r.string("server.key_file")?.trim() {
            "" => data_dir.join("v2_key"),
            path => PathBuf::from(path),
        },
    };

    let url_text = r.string("database.url")?;
    let url = DatabaseUrl::parse(&url_text, &data_dir).map_err(|e| r.reject("database.url", e))?;
    let database = DatabaseSettings {
        url,
        pool_size: r.int_in("database.pool_size", 1, 1000)? as u32,
        connect_timeout: r.duration("database.connect_timeout", Duration::from_millis(100))?,
    };

    let enabled = read_role_list(r, "roles.enabled")?;
    let primary = read_role_list(r, "roles.primary")?;
    if let Some(role) = primary.iter().find(|p| !enabled.contains(p)) {
        return Err(r.reject(
            "roles.primary",
            format!("`{role}` is not in roles.enabled, so this node cannot be its primary"),
        ));
    }
    let lease_duration = r.duration("roles.lease_duration", Duration::from_millis(200))?;
    r.check("roles.lease_duration", lease_duration, |l| {
        if *l > heartbeat_interval {
            Ok(())
        } else {
            Err(
                "must be longer than server.heartbeat_interval, or leases lapse between beats"
                    .into(),
            )
        }
    })?;
    let roles = RoleSettings {
        enabled,
        primary,
        lease_duration,
    };

    let ms = Duration::from_millis;
    let queue = QueueSettings {
        poll_interval: r.duration("queue.poll_interval", ms(10))?,
        claim_batch: r.int_in("queue.claim_batch", 1, 10_000)? as u32,
        mailbox_per_worker: r.int_in("queue.mailbox_per_worker", 1, 10_000)? as u32,
        completion_batch: r.int_in("queue.completion_batch", 1, 10_000)? as u32,
        completion_flush: r.duration("queue.completion_flush", ms(1))?,
        keep_finished: r.duration("queue.keep_finished", Duration::ZERO)?,
        purge_interval: r.duration("queue.purge_interval", ms(100))?,
        purge_batch: r.int_in("queue.purge_batch", 1, 30_000)? as u32,
        stats_interval: r.duration("queue.stats_interval", ms(100))?,
        max_attempts: r.int_in("queue.max_attempts", 1, 100)? as u32,
        log_messages: r.boolean("queue.log_messages")?,
        diagnostic_commands: r.boolean("queue.diagnostic_commands")?,
        max_args_bytes: r.check(
            "queue.max_args_bytes",
            r.size("queue.max_args_bytes")?,
            |n| {
                if (2..=64 * 1024 * 1024).contains(n) {
                    Ok(())
                } else {
                    Err("must be between 2 bytes and 64MiB".into())
                }
            },
        )? as usize,
    };
    let ems_refresh = RefreshSettings {
        refresh_interval: r.duration("ems_refresh.refresh_interval", Duration::ZERO)?,
        watch: r.boolean("ems_refresh.watch")?,
        watch_batch_window: r.duration("ems_refresh.watch_batch_window", ms(1))?,
        page_size: r.int_in("ems_refresh.page_size", 1, 10_000)? as u32,
        get_container_images: r.boolean("ems_refresh.get_container_images")?,
        store_unused_images: r.boolean("ems_refresh.store_unused_images")?,
        connect_timeout: r.duration("ems_refresh.connect_timeout", ms(10))?,
        request_timeout: r.duration("ems_refresh.request_timeout", ms(10))?,
        timeout: r.duration("ems_refresh.timeout", ms(100))?,
        retry_backoff: r.duration("ems_refresh.retry_backoff", ms(10))?,
        retry_backoff_max: r.duration("ems_refresh.retry_backoff_max", ms(10))?,
        keep_refreshes: r.int_in("ems_refresh.keep_refreshes", 1, 1_000_000)? as u32,
    };
    let providers = ProviderSettings {
        exec_allowed_commands: r
            .string_list("providers.exec_allowed_commands")?
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        credential_file_dirs: r
            .string_list("providers.credential_file_dirs")?
            .into_iter()
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
            .collect(),
        service_account_dir: std::path::PathBuf::from(
            r.string("providers.service_account_dir")?.trim(),
        ),
    };
    if !providers.service_account_dir.is_absolute() {
        return Err(r.reject(
            "providers.service_account_dir",
            format!(
                "`{}` is not an absolute path",
                providers.service_account_dir.display()
            ),
        ));
    }
    if let Some(dir) = providers
        .credential_file_dirs
        .iter()
        .find(|d| !d.is_absolute())
    {
        return Err(r.reject(
            "providers.credential_file_dirs",
            format!("`{}` is not an absolute path", dir.display()),
        ));
    }
    let secs = Duration::from_secs;
    let metrics = MetricsSettings {
        coordinator_interval: r.duration("metrics.coordinator_interval", ms(100))?,
        capture_threshold: r.duration("metrics.capture_threshold", ms(100))?,
        capture_threshold_container: r.duration("metrics.capture_threshold_container", ms(100))?,
        capture_threshold_container_group: r
            .duration("metrics.capture_threshold_container_group", ms(100))?,
        capture_threshold_container_node: r
            .duration("metrics.capture_threshold_container_node", ms(100))?,
        capture_batch: r.int_in("metrics.capture_batch", 1, 5_000)? as u32,
        realtime_interval: r.duration("metrics.realtime_interval", secs(1))?,
        initial_capture_window: r.duration("metrics.initial_capture_window", secs(1))?,
        capture_requeue_after: r.duration("metrics.capture_requeue_after", secs(1))?,
        prometheus_connect_timeout: r.duration("metrics.prometheus_connect_timeout", ms(10))?,
        prometheus_request_timeout: r.duration("metrics.prometheus_request_timeout", ms(10))?,
        keep_realtime: r.duration("metrics.keep_realtime", secs(60))?,
        keep_hourly: r.duration("metrics.keep_hourly", secs(3600))?,
        keep_daily: r.duration("metrics.keep_daily", secs(86_400))?,
        purge_interval: r.duration("metrics.purge_interval", ms(100))?,
    };
    let supervision = SupervisionSettings {
        monitor_interval: r.duration("supervision.monitor_interval", ms(10))?,
        restart_backoff: r.duration("supervision.restart_backoff", ms(1))?,
        restart_backoff_max: r.duration("supervision.restart_backoff_max", ms(1))?,
        component_max_restarts: r.int_in("supervision.component_max_restarts", 1, 10_000)? as u32,
        component_restart_window: r.duration("supervision.component_restart_window", ms(100))?,
    };

    let mut workers = WorkerSettingsMap::new();
    for kind in worker_types {
        let key = |field: &str| format!("workers.{kind}.{field}");
        workers.insert(
            kind.clone(),
            WorkerTypeSettings {
                count: r.int_in(&key("count"), 0, 256)? as u32,
                memory_threshold: at_least_mib(r, &key("memory_threshold"), 1)?,
                heartbeat_timeout: r
                    .duration(&key("heartbeat_timeout"), Duration::from_millis(100))?,
                restart_interval: r.duration(&key("restart_interval"), Duration::ZERO)?,
            },
        );
    }

    let bind_text = r.string("web.bind")?;
    let bind = bind_text
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| r.reject("web.bind", format!("`{bind_text}` is not an IP address")))?;
    let web = WebSettings {
        bind,
        port: r.int_in("web.port", 0, 65535)? as u16,
        external_url: external_url(r, "web.external_url", &["http", "https"])?,
        max_body: r.check("web.max_body", r.size("web.max_body")?, |n| {
            if (1024..=256 * 1024 * 1024).contains(n) {
                Ok(())
            } else {
                Err("must be between 1KiB and 256MiB".into())
            }
        })? as usize,
        send_buffer: r.check("web.send_buffer", r.size("web.send_buffer")?, |n| {
            if *n == 0 || (4096..=64 * 1024 * 1024).contains(n) {
                Ok(())
            } else {
                Err("must be 0 (the kernel's) or between 4KiB and 64MiB".into())
            }
        })? as usize,
    };
    if queue.max_args_bytes + 1024 > web.max_body {
        return Err(r.reject(
            "queue.max_args_bytes",
            format!(
                "must leave room in web.max_body ({} bytes) for the rest of a message: at most {} bytes",
                web.max_body,
                web.max_body.saturating_sub(1024)
            ),
        ));
    }

    let api = ApiSettings {
        token_ttl: r.duration("api.token_ttl", Duration::from_secs(1))?,
        max_failed_logins: r.int_in("api.max_failed_logins", 1, 1000)? as u32,
        lockout: r.duration("api.lockout", Duration::ZERO)?,
        login_rate_limit: r.int_in("api.login_rate_limit", 1, 1_000_000)? as u32,
        login_rate_window: r.duration("api.login_rate_window", Duration::from_secs(1))?,
        metrics_require_login: r.boolean("api.metrics_require_login")?,
        bulk_confirm_threshold: r.int_in("api.bulk_confirm_threshold", 0, 100_000)? as u32,
    };

    let websocket = WebsocketSettings {
        queue_interval: r.duration("websocket.queue_interval", Duration::from_millis(100))?,
        servers_interval: r.duration("websocket.servers_interval", Duration::from_millis(100))?,
        inventory_poll: r.duration("websocket.inventory_poll", Duration::from_millis(50))?,
        change_retention: r.duration("websocket.change_retention", Duration::from_secs(60))?,
        client_buffer: r.int_in("websocket.client_buffer", 1, 1_000_000)? as usize,
        replay: r.int_in("websocket.replay", 0, 1_000_000)? as usize,
        ping_interval: r.duration("websocket.ping_interval", Duration::from_millis(100))?,
        recheck_interval: r.duration("websocket.recheck_interval", Duration::from_millis(100))?,
        port: r.int_in("websocket.port", 0, 65535)? as u16,
        external_url: external_url(r, "websocket.external_url", &["ws", "wss"])?,
        read_buffer: r.check(
            "websocket.read_buffer",
            r.size("websocket.read_buffer")?,
            |n| {
                if (256..=1024 * 1024).contains(n) {
                    Ok(())
                } else {
                    Err("must be between 256B and 1MiB".into())
                }
            },
        )? as usize,
        write_buffer: r.check(
            "websocket.write_buffer",
            r.size("websocket.write_buffer")?,
            |n| {
                if (256..=16 * 1024 * 1024).contains(n) {
                    Ok(())
                } else {
                    Err("must be between 256B and 16MiB".into())
                }
            },
        )? as usize,
    };
    if websocket.port != 0 && websocket.port == web.port {
        return Err(r.reject(
            "websocket.port",
            format!("must differ from web.port ({})", web.port),
        ));
    }

    let events = EventSettings {
        batch_window: r.duration("events.batch_window", Duration::from_millis(10))?,
        batch_max: r.int_in("events.batch_max", 1, 10_000)? as usize,
        storm_threshold: r.int_in("events.storm_threshold", 0, 1_000_000)? as u32,
        storm_window: r.duration("events.storm_window", Duration::from_secs(1))?,
        retry_backoff: r.duration("events.retry_backoff", Duration::from_millis(10))?,
        retry_backoff_max: r.duration("events.retry_backoff_max", Duration::from_millis(10))?,
        handler_timeout: r.duration("events.handler_timeout", Duration::from_secs(1))?,
        default_policies: r.boolean("events.default_policies")?,
        policy_dir: r.string("events.policy_dir")?,
        keep_events: r.duration("events.keep_events", Duration::from_secs(60))?,
        purge_interval: r.duration("events.purge_interval", Duration::from_millis(100))?,
        purge_batch: r.int_in("events.purge_batch", 1, 100_000)? as u32,
    };
    let alerts = AlertSettings {
        control_interval: r.duration("alerts.control_interval", Duration::from_millis(100))?,
        disk_usage_threshold: r.int_in("alerts.disk_usage_threshold", 1, 100)? as u32,
        keep_resolved: r.duration("alerts.keep_resolved", Duration::from_secs(60))?,
        keep_notifications: r.duration("alerts.keep_notifications", Duration::from_secs(60))?,
    };

    let notifier = NotifierSettings {
        poll_interval: r.duration("notifier.poll_interval", Duration::from_millis(10))?,
        retry_backoff: r.duration("notifier.retry_backoff", Duration::from_millis(10))?,
        retry_backoff_max: r.duration("notifier.retry_backoff_max", Duration::from_millis(10))?,
        give_up_after: r.duration("notifier.give_up_after", Duration::from_secs(1))?,
        alert_after_failures: r.int_in("notifier.alert_after_failures", 1, 1_000)? as u32,
        webhook_timeout: r.duration("notifier.webhook_timeout", Duration::from_millis(100))?,
        smtp_host: r.string("notifier.smtp_host")?,
        smtp_port: r.int_in("notifier.smtp_port", 1, 65_535)? as u16,
        smtp_tls: r.one_of("notifier.smtp_tls", &["none", "starttls", "tls"])?,
        smtp_username: r.string("notifier.smtp_username")?,
        smtp_password: secrecy::SecretString::from(r.string("notifier.smtp_password")?),
        from: r.check("notifier.from", r.string("notifier.from")?, |s| {
            s.parse::<lettre::Address>()
                .map(|_| ())
                .map_err(|e| format!("not an e-mail address: {e}"))
        })?,
    };

    let log = LogSettings {
        level: r.one_of("log.level", &["trace", "debug", "info", "warn", "error"])?,
        format: match r.one_of("log.format", &["text", "json"])?.as_str() {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        },
    };

    Ok(Settings {
        server,
        database,
        roles,
        queue,
        ems_refresh,
        providers,
        metrics,
        supervision,
        workers,
        web,
        api,
        websocket,
        events,
        alerts,
        notifier,
        policies: Arc::new(crate::policy::PolicySet::default()),
        log,
        layers,
    })
}

/// `key` (`web.external_url`, `websocket.external_url`): empty, or an absolute URL of
/// one of `schemes` without credentials, query or fragment; kept without a trailing
/// slash.
fn external_url(
    r: &Reader<'_>,
    key: &str,
    schemes: &[&str],
) -> Result<Option<String>, SettingsError> {
    let text = r.string(key)?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let url =
        url::Url::parse(text).map_err(|e| r.reject(key, format!("`{text}` is not a URL: {e}")))?;
    if !schemes.contains(&url.scheme())
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(r.reject(
            key,
            format!(
                "must be a {} URL with a host and no credentials, query or fragment",
                schemes.join("/")
            ),
        ));
    }
    Ok(Some(url.as_str().trim_end_matches('/').to_string()))
}

fn at_least_mib(r: &Reader<'_>, key: &str, mib: u64) -> Result<u64, SettingsError> {
    let bytes = r.size(key)?;
    r.check(key, bytes, |b| {
        if *b >= mib << 20 {
            Ok(())
        } else {
            Err(format!("must be at least {mib}MiB"))
        }
    })
}

fn read_role_list(r: &Reader<'_>, key: &str) -> Result<Vec<String>, SettingsError> {
    let mut list = r.string_list(key)?;
    if let Some(unknown) = list.iter().find(|name| !roles::is_known(name)) {
        return Err(r.reject(
            key,
            format!(
                "unknown role `{unknown}` (known roles: {})",
                roles::names().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    list.sort();
    list.dedup();
    Ok(list)
}

/// Zone and server names: non-empty, printable, at most 64 characters.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn load_yaml(yaml: &str, vars: &[(&str, &str)]) -> (Result<Settings, SettingsError>, String) {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(yaml.as_bytes()).expect("write");
        let path = file.path().display().to_string();
        let result = Settings::load_from(SettingsSources {
            file: Some(file.path().to_path_buf()),
            env: env(vars),
        });
        (result, path)
    }

    #[test]
    fn defaults_alone_are_valid_and_run_every_role() {
        let s = Settings::load_from(SettingsSources {
            file: None,
            env: env(&[]),
        })
        .expect("defaults load");
        assert_eq!(s.server.zone, "default");
        assert_eq!(s.server.region, 0);
        assert_eq!(s.roles.enabled.len(), roles::CATALOGUE.len());
        assert_eq!(s.web.port, 3000);
        assert_eq!(s.server.heartbeat_interval, Duration::from_secs(5));
        assert_eq!(s.worker("generic").map(|w| w.count), Some(2));
        assert!(matches!(s.database.url, DatabaseUrl::Sqlite(_)));
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let (s, _) = load_yaml(
            "server:\n  region: 7\n  zone: east\nweb:\n  port: 8080\n",
            &[
                ("STEWARD__WEB__PORT", "9090"),
                ("STEWARD__ROLES__ENABLED", "event,scheduler"),
            ],
        );
        let s = s.expect("loads");
        assert_eq!(s.server.region, 7);
        assert_eq!(s.server.zone, "east");
        assert_eq!(s.web.port, 9090);
        assert_eq!(s.roles.enabled, vec!["event", "scheduler"]);
    }

    #[test]
    fn unknown_key_names_the_key_and_the_file() {
        let (err, path) = load_yaml("web:\n  prot: 80\n", &[]);
        let err = err.expect_err("must fail").to_string();
        assert!(err.contains("`web.prot`"), "{err}");
        assert!(err.contains(&path), "{err}");
    }

    #[test]
    fn unknown_key_from_the_environment_names_the_variable() {
        let (err, _) = load_yaml("", &[("STEWARD__WEB__PROT", "80")]);
        let err = err.expect_err("must fail").to_string();
        assert!(err.contains("STEWARD__WEB__PROT"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_refused_with_key_and_file() {
        for (yaml, key) in [
            ("server:\n  region: 1000\n", "server.region"),
            ("web:\n  port: 70000\n", "web.port"),
            ("roles:\n  enabled: [automate, teleport]\n", "roles.enabled"),
            (
                "server:\n  heartbeat_interval: soon\n",
                "server.heartbeat_interval",
            ),
            ("web:\n  port: eighty\n", "web.port"),
            ("log:\n  format: xml\n", "log.format"),
            (
                "workers:\n  generic:\n    memory_threshold: lots\n",
                "workers.generic.memory_threshold",
            ),
            ("web: 5\n", "web"),
        ] {
            let (err, path) = load_yaml(yaml, &[]);
            let err = err.expect_err(yaml);
            assert_eq!(err.key(), Some(key), "{yaml}: {err}");
            assert!(err.to_string().contains(&path), "{yaml}: {err}");
        }
    }

    #[test]
    fn a_file_that_is_not_yaml_is_named() {
        let (err, path) = load_yaml("server: [unclosed\n", &[]);
        let err = err.expect_err("must fail").to_string();
        assert!(err.contains(&path) && err.contains("YAML"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Settings::load_from(SettingsSources {
            file: Some("/nonexistent/steward.yaml".into()),
            env: env(&[]),
        })
        .expect_err("must fail")
        .to_string();
        assert!(err.contains("/nonexistent/steward.yaml"), "{err}");
    }
}
