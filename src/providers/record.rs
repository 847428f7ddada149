//! The `providers` table: what a provider is (name, type, zone, endpoint, credentials,
//! TLS, refresh settings, Prometheus endpoint and its own credentials) and how it is
//! doing (status, message, last refresh). Input is validated field by field before
//! anything is written; credentials — a bearer token or a kubeconfig's *content* — are
//! stored encrypted and never leave this module in clear. No file is ever read by a
//! path a caller gives.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, KeyRing, Secret};
use crate::db::schema::{providers, zones};
use crate::db::{DbConnection, DbError, write_transaction_with};
use crate::kube::{check_api_url, inspect_kubeconfig, parse_ca_pem};
use crate::region::key::{SEALED_COLUMNS, prepare_to_seal, provider_binding};
use crate::settings::ProviderSettings;

/// Provider types.
pub const PROVIDER_TYPES: &[&str] = &["kubernetes", "openshift"];

/// A provider as stored (credentials encrypted).
#[derive(Debug, Clone, Queryable)]
pub struct Provider {
    pub id: i64,
    pub name: String,
    pub provider_type: String,
    pub zone_id: i64,
    pub api_url: String,
    /// `token` (a bearer token, or none), `kubeconfig` or `in_cluster`.
    pub auth_kind: String,
    /// The encrypted token or kubeconfig content (empty: none).
    pub credentials: String,
    /// Unused since kubeconfigs are stored as content (kept for old rows).
    pub kubeconfig_path: String,
    pub verify_tls: bool,
    pub ca_cert: String,
    pub prometheus_url: String,
    pub refresh_interval_s: Option<i32>,
    pub get_container_images: Option<bool>,
    pub store_unused_images: Option<bool>,
    pub status: String,
    pub status_message: String,
    pub last_refresh_on: Option<NaiveDateTime>,
    pub last_refresh_success_on: Option<NaiveDateTime>,
    pub created_on: NaiveDateTime,
    pub updated_on: NaiveDateTime,
    /// `ok`, `error`, or empty before the first capture.
    pub metrics_status: String,
    pub metrics_status_message: String,
    pub last_metrics_success_on: Option<NaiveDateTime>,
    /// The tenant owning it (None: the root tenant).
    pub tenant_id: Option<i64>,
    /// Refuses removal until unprotected.
    pub protected: bool,
    /// The kubeconfig context used (empty: its current context).
    pub kubeconfig_context: String,
    /// Plain `http://` API and Prometheus URLs are allowed.
    pub allow_insecure_http: bool,
    /// `none`, `token` (its own, encrypted in `prometheus_credentials`) or
    /// `same_as_provider`.
    pub prometheus_auth: String,
    pub prometheus_credentials: String,
    /// PEM of the CA of Prometheus' certificate (empty: the provider's CA).
    pub prometheus_ca_cert: String,
}

impl Provider {
    /// The queue its refresh messages go to (one refresh worker per provider).
    pub fn queue_name(&self) -> String {
        queue_name(self.id)
    }
}

/// `ems_<id>`, the seed's per-provider queue.
pub fn queue_name(provider_id: i64) -> String {
    format!("ems_{provider_id}")
}

/// What the API and CLI show of a provider: everything but the credentials.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    #[serde(serialize_with = "crate::json::id")]
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub provider_type: String,
    pub zone: String,
    pub api_url: String,
    pub auth_kind: String,
    pub has_credentials: bool,
    /// The kubeconfig context used (empty: its current context).
    pub kubeconfig_context: String,
    pub verify_tls: bool,
    pub has_ca_cert: bool,
    pub allow_insecure_http: bool,
    pub prometheus_url: String,
    /// How Steward authenticates to Prometheus: `none`, `token` or `same_as_provider`.
    pub prometheus_auth: String,
    pub has_prometheus_ca_cert: bool,
    pub refresh_interval_s: Option<i32>,
    pub get_container_images: Option<bool>,
    pub store_unused_images: Option<bool>,
    pub status: String,
    pub status_message: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub last_refresh_on: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub last_refresh_success_on: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::json::utc")]
    pub created_on: NaiveDateTime,
    pub metrics_status: String,
    pub metrics_status_message: String,
    #[serde(serialize_with = "crate::json::utc_opt")]
    pub last_metrics_success_on: Option<NaiveDateTime>,
    /// Removal is refused until unprotected.
    pub protected: bool,
}

impl ProviderView {
    pub fn new(p: &Provider, zone: &str) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            provider_type: p.provider_type.clone(),
            zone: zone.to_string(),
            api_url: p.api_url.clone(),
            auth_kind: p.auth_kind.clone(),
            has_credentials: !p.credentials.is_empty(),
            kubeconfig_context: p.kubeconfig_context.clone(),
            verify_tls: p.verify_tls,
            has_ca_cert: !p.ca_cert.is_empty(),
            allow_insecure_http: p.allow_insecure_http,
            prometheus_url: p.prometheus_url.clone(),
            prometheus_auth: p.prometheus_auth.clone(),
            has_prometheus_ca_cert: !p.prometheus_ca_cert.is_empty(),
            refresh_interval_s: p.refresh_interval_s,
            get_container_images: p.get_container_images,
            store_unused_images: p.store_unused_images,
            status: p.status.clone(),
            status_message: p.status_message.clone(),
            last_refresh_on: p.last_refresh_on,
            last_refresh_success_on: p.last_refresh_success_on,
            created_on: p.created_on,
            metrics_status: p.metrics_status.clone(),
            metrics_status_message: p.metrics_status_message.clone(),
            last_metrics_success_on: p.last_metrics_success_on,
            protected: p.protected,
        }
    }
}

/// A new provider, as a user describes it (API body and CLI flags).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    pub name: String,
    #[serde(rename = "type", default)]
    pub provider_type: String,
    #[serde(default)]
    pub zone: Option<String>,
    /// Required unless `kubeconfig` gives the server (or `in_cluster`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Bearer token (stored encrypted).
    #[serde(default)]
    pub token: Option<String>,
    /// A kubeconfig's *content* (stored encrypted): server, credentials and CA of
    /// `context` (default: its current context).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    /// The node's own service account (Steward running in the cluster it manages).
    #[serde(default)]
    pub in_cluster: Option<bool>,
    #[serde(default)]
    pub verify_tls: Option<bool>,
    /// PEM of the CA of the API server's certificate: the only CA trusted for it.
    #[serde(default)]
    pub ca_cert: Option<String>,
    /// Allow plain `http://` API and Prometheus URLs (test clusters, the simulator).
    #[serde(default)]
    pub allow_insecure_http: Option<bool>,
    #[serde(default)]
    pub prometheus_url: Option<String>,
    /// `none` (default), `token` (with `prometheus_token`) or `same_as_provider`
    /// (the cluster's bearer token is sent to Prometheus too).
    #[serde(default)]
    pub prometheus_auth: Option<String>,
    #[serde(default)]
    pub prometheus_token: Option<String>,
    /// PEM of Prometheus' CA (default: the provider's CA).
    #[serde(default)]
    pub prometheus_ca_cert: Option<String>,
    #[serde(default)]
    pub refresh_interval_s: Option<i32>,
    #[serde(default)]
    pub get_container_images: Option<bool>,
    #[serde(default)]
    pub store_unused_images: Option<bool>,
}

/// Input that cannot become a provider, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidProvider {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidProvider {
    InvalidProvider {
        field,
        reason: reason.into(),
    }
}

/// Longest URL, token, CA and kubeconfig a provider may carry.
const MAX_URL: usize = 2048;
const MAX_TOKEN: usize = 16 * 1024;
const MAX_CA: usize = 64 * 1024;
pub const MAX_KUBECONFIG: usize = 256 * 1024;

fn check_len(field: &'static str, text: &str, max: usize) -> Result<(), InvalidProvider> {
    if text.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes long; at most {max} are allowed", text.len()),
        ));
    }
    Ok(())
}

/// A URL parsed once (see [`check_api_url`]), returned without a trailing `/`.
fn check_url(field: &'static str, url: &str, allow_http: bool) -> Result<String, InvalidProvider> {
    check_len(field, url, MAX_URL)?;
    let parsed = check_api_url(url, allow_http).map_err(|e| invalid(field, e))?;
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

fn check_pem(field: &'static str, pem: &str) -> Result<(), InvalidProvider> {
    check_len(field, pem, MAX_CA)?;
    parse_ca_pem(pem).map_err(|e| invalid(field, format!("must be a PEM certificate: {e}")))?;
    Ok(())
}

/// Prometheus authentication modes.
pub const PROMETHEUS_AUTH: &[&str] = &["none", "token", "same_as_provider"];

/// A validated provider, ready to insert.
#[derive(Debug, Clone)]
pub struct ValidProvider {
    pub input: ProviderInput,
    pub api_url: String,
    pub auth_kind: &'static str,
    pub prometheus_url: String,
    pub prometheus_auth: &'static str,
}

impl ProviderInput {
    /// Checks every field against `policy`; the first problem is returned, naming its
    /// field.
    pub fn validate(mut self, policy: &ProviderSettings) -> Result<ValidProvider, InvalidProvider> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 128 {
            return Err(invalid("name", "must be 1 to 128 characters"));
        }
        if self.name.chars().any(char::is_control) {
            return Err(invalid("name", "must not contain control characters"));
        }
        if let Some(zone) = &self.zone {
            crate::queue::check_zone_name("zone", zone).map_err(|e| invalid("zone", e.reason))?;
        }
        let allow_http = self.allow_insecure_http.unwrap_or(false);
        if self.provider_type.is_empty() {
            self.provider_type = "kubernetes".into();
        }
        if !PROVIDER_TYPES.contains(&self.provider_type.as_str()) {
            return Err(invalid(
                "type",
                format!(
                    "`{}` is not one of {}",
                    self.provider_type,
                    PROVIDER_TYPES.join(", ")
                ),
            ));
        }
        let kubeconfig = self.kubeconfig.clone().filter(|k| !k.trim().is_empty());
        let in_cluster = self.in_cluster.unwrap_or(false);
        let api_url_given = self
            .api_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty());
        if let Some(t) = &self.token {
            check_len("token", t, MAX_TOKEN)?;
            if t.trim().is_empty() || t.contains(char::is_whitespace) {
                return Err(invalid("token", "must be a single non-empty word"));
            }
        }
        if let Some(context) = &self.context {
            check_len("context", context, 256)?;
            if kubeconfig.is_none() {
                return Err(invalid(
                    "context",
                    "is a kubeconfig's context: give the kubeconfig",
                ));
            }
        }
        let mut static_token = self.token.is_some();
        let (api_url, auth_kind) = match (&kubeconfig, in_cluster) {
            (Some(_), true) => {
                return Err(invalid(
                    "in_cluster",
                    "give a kubeconfig or in_cluster, not both",
                ));
            }
            (Some(content), false) => {
                check_len("kubeconfig", content, MAX_KUBECONFIG)?;
                if !content.contains('\n') && !content.contains(':') {
                    return Err(invalid(
                        "kubeconfig",
                        "must be the kubeconfig's content, not a path: the server never reads files a caller names (the CLI reads your file: --kubeconfig FILE)",
                    ));
                }
                if self.token.is_some() {
                    return Err(invalid("token", "give a token or a kubeconfig, not both"));
                }
                if api_url_given {
                    return Err(invalid(
                        "api_url",
                        "the kubeconfig gives the server; give one or the other",
                    ));
                }
                let (_, summary) =
                    inspect_kubeconfig(content, self.context.as_deref(), allow_http, policy)
                        .map_err(|e| invalid("kubeconfig", e))?;
                static_token = summary.static_token.is_some();
                (
                    summary.server.as_str().trim_end_matches('/').to_string(),
                    "kubeconfig",
                )
            }
            (None, true) => {
                if self.token.is_some() || api_url_given {
                    return Err(invalid(
                        "in_cluster",
                        "the in-cluster service account gives the server and token; give neither",
                    ));
                }
                ("https://kubernetes.default.svc".to_string(), "in_cluster")
            }
            (None, false) => match &self.api_url {
                Some(url) if api_url_given => {
                    (check_url("api_url", url.trim(), allow_http)?, "token")
                }
                _ => {
                    return Err(invalid(
                        "api_url",
                        "is required (or give a kubeconfig, or in_cluster: true)",
                    ));
                }
            },
        };
        if let Some(pem) = &self.ca_cert {
            check_pem("ca_cert", pem)?;
        }
        if let Some(pem) = &self.prometheus_ca_cert {
            check_pem("prometheus_ca_cert", pem)?;
        }
        let prometheus_url = match self.prometheus_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => check_url("prometheus_url", url, allow_http)?,
            None => String::new(),
        };
        let prometheus_auth = match self.prometheus_auth.as_deref().unwrap_or("none") {
            "none" => "none",
            "token" => "token",
            "same_as_provider" => "same_as_provider",
            other => {
                return Err(invalid(
                    "prometheus_auth",
                    format!("`{other}` is not one of {}", PROMETHEUS_AUTH.join(", ")),
                ));
            }
        };
        match (prometheus_auth, &self.prometheus_token) {
            ("token", None) => {
                return Err(invalid(
                    "prometheus_token",
                    "is required with prometheus_auth: token",
                ));
            }
            ("token", Some(t)) => {
                check_len("prometheus_token", t, MAX_TOKEN)?;
                if t.trim().is_empty() || t.contains(char::is_whitespace) {
                    return Err(invalid(
                        "prometheus_token",
                        "must be a single non-empty word",
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(invalid(
                    "prometheus_token",
                    "is used only with prometheus_auth: token",
                ));
            }
            _ => {}
        }
        if prometheus_auth == "same_as_provider" && !static_token {
            return Err(invalid(
                "prometheus_auth",
                "same_as_provider needs the provider to authenticate with a bearer token (a token, or a kubeconfig user with `token`)",
            ));
        }
        if let Some(s) = self.refresh_interval_s
            && !(0..=30 * 86_400).contains(&s)
        {
            return Err(invalid(
                "refresh_interval_s",
                "must be between 0 (off) and 2592000",
            ));
        }
        self.kubeconfig = kubeconfig;
        Ok(ValidProvider {
            input: self,
            api_url,
            auth_kind,
            prometheus_url,
            prometheus_auth,
        })
    }
}

/// Why a provider could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Invalid(#[from] InvalidProvider),
    #[error("zone `{0}` does not exist")]
    UnknownZone(String),
    #[error("a provider named `{0}` already exists")]
    Duplicate(String),
    #[error("cannot encrypt the credentials: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Key(#[from] crate::region::RegionKeyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Inserts a validated provider (status `unknown` until its first refresh), owned by
/// `tenant` (None: the root tenant).
pub fn insert_provider(
    conn: &mut DbConnection,
    p: &ValidProvider,
    keys: &KeyRing,
    tenant: Option<i64>,
) -> Result<Provider, ProviderError> {
    let zone = p.input.zone.clone().unwrap_or_else(|| "default".into());
    let zone_id: i64 = zones::table
        .filter(zones::name.eq(&zone))
        .select(zones::id)
        .first(conn)
        .optional()
        .map_err(DbError::from)?
        .ok_or(ProviderError::UnknownZone(zone))?;
    let now = chrono::Utc::now().naive_utc();
    write_transaction_with(conn, |conn| {
        prepare_to_seal(conn, keys)?;
        // Credentials are sealed to the row, so the row comes first.
        let inserted = diesel::insert_into(providers::table)
            .values((
                providers::name.eq(&p.input.name),
                providers::provider_type.eq(&p.input.provider_type),
                providers::zone_id.eq(zone_id),
                providers::api_url.eq(&p.api_url),
                providers::auth_kind.eq(p.auth_kind),
                providers::credentials.eq(""),
                providers::kubeconfig_path.eq(""),
                providers::kubeconfig_context.eq(p.input.context.clone().unwrap_or_default()),
                providers::verify_tls.eq(p.input.verify_tls.unwrap_or(true)),
                providers::ca_cert.eq(p.input.ca_cert.clone().unwrap_or_default()),
                providers::allow_insecure_http.eq(p.input.allow_insecure_http.unwrap_or(false)),
                providers::prometheus_url.eq(&p.prometheus_url),
                providers::prometheus_auth.eq(p.prometheus_auth),
                providers::prometheus_credentials.eq(""),
                providers::prometheus_ca_cert.eq(p
                    .input
                    .prometheus_ca_cert
                    .clone()
                    .unwrap_or_default()),
                providers::refresh_interval_s.eq(p.input.refresh_interval_s),
                providers::get_container_images.eq(p.input.get_container_images),
                providers::store_unused_images.eq(p.input.store_unused_images),
                providers::status.eq("unknown"),
                providers::status_message.eq("waiting for the first refresh"),
                providers::tenant_id.eq(tenant),
                providers::created_on.eq(now),
                providers::updated_on.eq(now),
            ))
            .execute(conn);
        match inserted {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => return Err(ProviderError::Duplicate(p.input.name.clone())),
            other => other.map_err(DbError::from)?,
        };
        let id: i64 = providers::table
            .filter(providers::name.eq(&p.input.name))
            .select(providers::id)
            .first(conn)
            .map_err(DbError::from)?;
        let (credentials, prometheus_credentials) = seal_credentials(p, keys, id)?;
        diesel::update(providers::table.find(id))
            .set((
                providers::credentials.eq(credentials),
                providers::prometheus_credentials.eq(prometheus_credentials),
            ))
            .execute(conn)
            .map_err(DbError::from)?;
        Ok(providers::table
            .find(id)
            .first(conn)
            .map_err(DbError::from)?)
    })
}

/// The cluster credentials (token or kubeconfig) and Prometheus token of provider `id`,
/// sealed to its row.
fn seal_credentials(
    p: &ValidProvider,
    keys: &KeyRing,
    id: i64,
) -> Result<(String, String), CryptoError> {
    let [cluster, prometheus] = SEALED_COLUMNS.map(|column| provider_binding(column, id));
    let credentials = match (&p.input.kubeconfig, &p.input.token) {
        (Some(k), _) => keys.seal(k, cluster)?,
        (None, Some(t)) => keys.seal(t.trim(), cluster)?,
        (None, None) => String::new(),
    };
    let prometheus = match &p.input.prometheus_token {
        Some(t) => keys.seal(t.trim(), prometheus)?,
        None => String::new(),
    };
    Ok((credentials, prometheus))
}

/// A provider's encrypted columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// `credentials`: the cluster's token or kubeconfig.
    Cluster,
    /// `prometheus_credentials`: Prometheus' own token.
    Prometheus,
}

impl Provider {
    /// The decrypted value of one of its sealed columns (None when it holds nothing).
    pub fn open(&self, which: Sealed, keys: &KeyRing) -> Result<Option<Secret>, CryptoError> {
        let (column, stored) = match which {
            Sealed::Cluster => (SEALED_COLUMNS[0], &self.credentials),
            Sealed::Prometheus => (SEALED_COLUMNS[1], &self.prometheus_credentials),
        };
        if stored.is_empty() {
            return Ok(None);
        }
        keys.open(stored, provider_binding(column, self.id))
            .map(Some)
    }
}

/// All providers with their zone names, by name.
pub fn list_providers(conn: &mut DbConnection) -> Result<Vec<(Provider, String)>, DbError> {
    Ok(providers::table
        .inner_join(zones::table)
        .select((providers::all_columns, zones::name))
        .order(providers::name)
        .load(conn)?)
}

/// One provider with its zone name.
pub fn find_provider(conn: &mut DbConnection, id: i64) -> Result<(Provider, String), DbError> {
    providers::table
        .inner_join(zones::table)
        .filter(providers::id.eq(id))
        .select((providers::all_columns, zones::name))
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("provider {id}")))
}

/// Deletes a provider and (by cascade) its inventory and refresh history.
/// What may change of a provider (every field optional; absent = unchanged). The
/// inventory stays: only how the cluster is reached changes.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderEdit {
    pub name: Option<String>,
    pub api_url: Option<String>,
    /// A new bearer token (stored encrypted; replaces a kubeconfig).
    pub token: Option<String>,
    /// A new kubeconfig content (stored encrypted; replaces a token and the API URL).
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub verify_tls: Option<bool>,
    pub ca_cert: Option<String>,
    pub allow_insecure_http: Option<bool>,
    pub prometheus_url: Option<String>,
    pub prometheus_auth: Option<String>,
    pub prometheus_token: Option<String>,
    pub prometheus_ca_cert: Option<String>,
    pub refresh_interval_s: Option<i32>,
    pub get_container_images: Option<bool>,
    pub store_unused_images: Option<bool>,
}

/// Applies `edit` to provider `id`, validated as a whole like a new provider.
pub fn update_provider(
    conn: &mut DbConnection,
    id: i64,
    edit: ProviderEdit,
    keys: &KeyRing,
    policy: &ProviderSettings,
) -> Result<Provider, ProviderError> {
    write_transaction_with(conn, |conn| {
        prepare_to_seal(conn, keys)?;
        let (old, zone) = find_provider(conn, id)?;
        let old_secret = old
            .open(Sealed::Cluster, keys)?
            .map(|s| s.expose().to_string());
        let (old_token, old_kubeconfig) = match old.auth_kind.as_str() {
            "kubeconfig" => (None, old_secret),
            _ => (old_secret, None),
        };
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let (token, kubeconfig, api_url, context) = if edit.kubeconfig.is_some() {
            (None, edit.kubeconfig, None, edit.context)
        } else if edit.token.is_some() || edit.api_url.is_some() {
            let api_url = edit.api_url.or_else(|| {
                (old.auth_kind != "kubeconfig")
                    .then(|| non_empty(&old.api_url))
                    .flatten()
            });
            let token = edit.token.or(old_token);
            (token, None, api_url, None)
        } else if old.auth_kind == "kubeconfig" {
            let context = edit.context.or_else(|| non_empty(&old.kubeconfig_context));
            (None, old_kubeconfig, None, context)
        } else if old.auth_kind == "in_cluster" {
            (None, None, None, None)
        } else {
            (old_token, None, non_empty(&old.api_url), None)
        };
        let old_prometheus_token = old
            .open(Sealed::Prometheus, keys)?
            .map(|s| s.expose().to_string());
        let prometheus_auth = edit
            .prometheus_auth
            .clone()
            .unwrap_or_else(|| old.prometheus_auth.clone());
        let prometheus_token = match (&edit.prometheus_token, prometheus_auth.as_str()) {
            (Some(t), _) => Some(t.clone()),
            (None, "token") => old_prometheus_token,
            (None, _) => None,
        };
        let input = ProviderInput {
            name: edit.name.unwrap_or(old.name.clone()),
            provider_type: old.provider_type.clone(),
            zone: Some(zone),
            api_url,
            token,
            kubeconfig,
            context,
            in_cluster: Some(old.auth_kind == "in_cluster"),
            verify_tls: Some(edit.verify_tls.unwrap_or(old.verify_tls)),
            ca_cert: edit.ca_cert.or_else(|| non_empty(&old.ca_cert)),
            allow_insecure_http: Some(edit.allow_insecure_http.unwrap_or(old.allow_insecure_http)),
            prometheus_url: edit
                .prometheus_url
                .or_else(|| non_empty(&old.prometheus_url)),
            prometheus_auth: Some(prometheus_auth),
            prometheus_token,
            prometheus_ca_cert: edit
                .prometheus_ca_cert
                .or_else(|| non_empty(&old.prometheus_ca_cert)),
            refresh_interval_s: edit.refresh_interval_s.or(old.refresh_interval_s),
            get_container_images: edit.get_container_images.or(old.get_container_images),
            store_unused_images: edit.store_unused_images.or(old.store_unused_images),
        };
        let valid = input.validate(policy).map_err(ProviderError::Invalid)?;
        let (credentials, prometheus_credentials) = seal_credentials(&valid, keys, id)?;
        let updated = diesel::update(providers::table.find(id))
            .set((
                providers::name.eq(&valid.input.name),
                providers::api_url.eq(&valid.api_url),
                providers::auth_kind.eq(valid.auth_kind),
                providers::credentials.eq(credentials),
                providers::kubeconfig_path.eq(""),
                providers::kubeconfig_context.eq(valid.input.context.clone().unwrap_or_default()),
                providers::verify_tls.eq(valid.input.verify_tls.unwrap_or(true)),
                providers::ca_cert.eq(valid.input.ca_cert.clone().unwrap_or_default()),
                providers::allow_insecure_http.eq(valid.input.allow_insecure_http.unwrap_or(false)),
                providers::prometheus_url.eq(&valid.prometheus_url),
                providers::prometheus_auth.eq(valid.prometheus_auth),
                providers::prometheus_credentials.eq(prometheus_credentials),
                providers::prometheus_ca_cert.eq(valid
                    .input
                    .prometheus_ca_cert
                    .clone()
                    .unwrap_or_default()),
                providers::refresh_interval_s.eq(valid.input.refresh_interval_s),
                providers::get_container_images.eq(valid.input.get_container_images),
                providers::store_unused_images.eq(valid.input.store_unused_images),
                providers::updated_on.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(conn);
        match updated {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => return Err(ProviderError::Duplicate(valid.input.name.clone())),
            other => other.map_err(DbError::from)?,
        };
        Ok(find_provider(conn, id)?.0)
    })
}

/// Removes a provider with its inventory; a protected one is refused (409).
pub fn delete_provider(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    let found: Option<(String, bool)> = providers::table
        .find(id)
        .select((providers::name, providers::protected))
        .first(conn)
        .optional()?;
    match found {
        None => Err(DbError::NotFound(format!("provider {id}"))),
        Some((name, true)) => Err(DbError::Conflict(format!(
            "provider `{name}` is protected; unprotect it first (action `unprotect`)"
        ))),
        Some(_) => {
            let n = diesel::delete(
                providers::table
                    .find(id)
                    .filter(providers::protected.eq(false)),
            )
            .execute(conn)?;
            if n == 0 {
                return Err(DbError::Conflict(format!(
                    "provider {id} was protected meanwhile"
                )));
            }
            Ok(())
        }
    }
}

/// Sets or clears a provider's write protection.
pub fn set_protected(conn: &mut DbConnection, id: i64, protected: bool) -> Result<(), DbError> {
    let n = diesel::update(providers::table.find(id))
        .set(providers::protected.eq(protected))
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::NotFound(format!("provider {id}")));
    }
    Ok(())
}

/// Records the outcome of a metrics capture (`ok`, or `error` with what went wrong).
pub fn set_metrics_status(
    conn: &mut DbConnection,
    id: i64,
    ok: bool,
    message: &str,
) -> Result<(), DbError> {
    let status = if ok { "ok" } else { "error" };
    let now = chrono::Utc::now().naive_utc();
    if ok {
        diesel::update(providers::table.find(id))
            .set((
                providers::metrics_status.eq(status),
                providers::metrics_status_message.eq(message),
                providers::last_metrics_success_on.eq(Some(now)),
            ))
            .execute(conn)?;
    } else {
        diesel::update(providers::table.find(id))
            .set((
                providers::metrics_status.eq(status),
                providers::metrics_status_message.eq(message),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Points a provider at another API (and Prometheus) endpoint.
pub fn set_provider_endpoint(
    conn: &mut DbConnection,
    id: i64,
    api_url: &str,
    prometheus_url: &str,
) -> Result<(), DbError> {
    diesel::update(providers::table.find(id))
        .set((
            providers::api_url.eq(api_url),
            providers::prometheus_url.eq(prometheus_url),
            // The demo's simulator serves plain http on the loopback.
            providers::allow_insecure_http.eq(api_url.starts_with("http://")),
            providers::updated_on.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records the outcome of a refresh (or of a connection attempt).
pub fn set_provider_status(
    conn: &mut DbConnection,
    id: i64,
    ok: bool,
    message: &str,
    refreshed: bool,
) -> Result<(), DbError> {
    let now = chrono::Utc::now().naive_utc();
    let status = if ok { "ok" } else { "error" };
    diesel::update(providers::table.find(id))
        .set((
            providers::status.eq(status),
            providers::status_message.eq(message),
            providers::updated_on.eq(now),
        ))
        .execute(conn)?;
    if refreshed {
        diesel::update(providers::table.find(id))
            .set(providers::last_refresh_on.eq(Some(now)))
            .execute(conn)?;
        if ok {
            diesel::update(providers::table.find(id))
                .set(providers::last_refresh_success_on.eq(Some(now)))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Marks a provider `stale`: its watches relist (or a save failed) and a full refresh
/// is on its way; the inventory may lag the cluster until it succeeds.
pub fn set_provider_stale(conn: &mut DbConnection, id: i64, message: &str) -> Result<(), DbError> {
    diesel::update(providers::table.find(id))
        .set((
            providers::status.eq("stale"),
            providers::status_message.eq(message),
            providers::updated_on.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Providers of a zone (the ones its `ems_inventory` server refreshes).
pub fn providers_in_zone(conn: &mut DbConnection, zone: &str) -> Result<Vec<Provider>, DbError> {
    Ok(providers::table
        .inner_join(zones::table)
        .filter(zones::name.eq(zone))
        .select(providers::all_columns)
        .order(providers::id)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ProviderSettings {
        ProviderSettings::default()
    }

    fn input() -> ProviderInput {
        ProviderInput {
            name: "prod".into(),
            api_url: Some("https://api.prod:6443".into()),
            token: Some("abc".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_provider_validates_with_defaults() {
        let v = input().validate(&policy()).expect("valid");
        assert_eq!(v.input.provider_type, "kubernetes");
        assert_eq!(v.auth_kind, "token");
        assert_eq!(v.api_url, "https://api.prod:6443");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(ProviderInput, &str)> = vec![
            (
                ProviderInput {
                    name: " ".into(),
                    ..input()
                },
                "name",
            ),
            (
                ProviderInput {
                    provider_type: "vmware".into(),
                    ..input()
                },
                "type",
            ),
            (
                ProviderInput {
                    api_url: Some("api.prod:6443".into()),
                    ..input()
                },
                "api_url",
            ),
            (
                ProviderInput {
                    api_url: None,
                    ..input()
                },
                "api_url",
            ),
            (
                ProviderInput {
                    token: Some("a b".into()),
                    ..input()
                },
                "token",
            ),
            (
                ProviderInput {
                    ca_cert: Some("nope".into()),
                    ..input()
                },
                "ca_cert",
            ),
            (
                ProviderInput {
                    prometheus_url: Some("prom:9090".into()),
                    ..input()
                },
                "prometheus_url",
            ),
            (
                ProviderInput {
                    refresh_interval_s: Some(-1),
                    ..input()
                },
                "refresh_interval_s",
            ),
            (
                ProviderInput {
                    kubeconfig: Some("/etc/steward/v2_key".into()),
                    api_url: None,
                    token: None,
                    ..input()
                },
                "kubeconfig",
            ),
            (
                ProviderInput {
                    api_url: Some("http://api.prod:6443".into()),
                    ..input()
                },
                "api_url",
            ),
            (
                ProviderInput {
                    api_url: Some("https://admin:pw@api.prod:6443".into()),
                    ..input()
                },
                "api_url",
            ),
            (
                ProviderInput {
                    prometheus_auth: Some("token".into()),
                    ..input()
                },
                "prometheus_token",
            ),
            (
                ProviderInput {
                    prometheus_auth: Some("same_as_provider".into()),
                    token: None,
                    ..input()
                },
                "prometheus_auth",
            ),
        ];
        for (i, field) in cases {
            let err = i.validate(&policy()).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }
}
