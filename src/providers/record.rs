//! The `providers` table: what a provider is (name, type, zone, endpoint, credentials,
//! TLS, refresh settings, Prometheus endpoint) and how it is doing (status, message,
//! last refresh). Input is validated field by field before anything is written;
//! credentials are stored encrypted and never leave this module in clear.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::crypto::KeyRing;
use crate::db::schema::{providers, zones};
use crate::db::{DbConnection, DbError};

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
    pub auth_kind: String,
    pub credentials: String,
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
    pub kubeconfig_path: String,
    pub verify_tls: bool,
    pub has_ca_cert: bool,
    pub prometheus_url: String,
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
            kubeconfig_path: p.kubeconfig_path.clone(),
            verify_tls: p.verify_tls,
            has_ca_cert: !p.ca_cert.is_empty(),
            prometheus_url: p.prometheus_url.clone(),
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
    /// Required unless `kubeconfig` gives the server.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Bearer token (stored encrypted).
    #[serde(default)]
    pub token: Option<String>,
    /// Path of a kubeconfig file on the nodes (server, token and CA are read from it).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    #[serde(default)]
    pub verify_tls: Option<bool>,
    /// PEM of the CA of the API server's certificate.
    #[serde(default)]
    pub ca_cert: Option<String>,
    #[serde(default)]
    pub prometheus_url: Option<String>,
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

/// Longest URL, token and CA a provider may carry.
const MAX_URL: usize = 2048;
const MAX_TOKEN: usize = 16 * 1024;
const MAX_CA: usize = 64 * 1024;

fn check_len(field: &'static str, text: &str, max: usize) -> Result<(), InvalidProvider> {
    if text.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes long; at most {max} are allowed", text.len()),
        ));
    }
    Ok(())
}

fn check_url(field: &'static str, url: &str) -> Result<(), InvalidProvider> {
    check_len(field, url, MAX_URL)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                field,
                format!("`{url}` must start with https:// or http://"),
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(invalid(field, format!("`{url}` has no host")));
    }
    Ok(())
}

/// A validated provider, ready to insert.
#[derive(Debug, Clone)]
pub struct ValidProvider {
    pub input: ProviderInput,
    pub api_url: String,
    pub auth_kind: &'static str,
}

impl ProviderInput {
    /// Checks every field; the first problem is returned, naming its field.
    pub fn validate(mut self) -> Result<ValidProvider, InvalidProvider> {
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
        if let Some(path) = &self.kubeconfig {
            check_len("kubeconfig", path, 4096)?;
        }
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
        let api_url = match (&self.api_url, &kubeconfig) {
            (Some(url), _) if !url.trim().is_empty() => {
                check_url("api_url", url.trim())?;
                url.trim().trim_end_matches('/').to_string()
            }
            (_, Some(path)) => {
                let target = crate::kube::read_kubeconfig(std::path::Path::new(path))
                    .map_err(|e| invalid("kubeconfig", e))?;
                check_url("kubeconfig", &target.server)?;
                target.server
            }
            _ => return Err(invalid("api_url", "is required (or give a kubeconfig)")),
        };
        if self.token.is_some() && kubeconfig.is_some() {
            return Err(invalid("token", "give a token or a kubeconfig, not both"));
        }
        if let Some(t) = &self.token {
            check_len("token", t, MAX_TOKEN)?;
        }
        if let Some(pem) = &self.ca_cert {
            check_len("ca_cert", pem, MAX_CA)?;
        }
        if let Some(t) = &self.token
            && (t.trim().is_empty() || t.contains(char::is_whitespace))
        {
            return Err(invalid("token", "must be a single non-empty word"));
        }
        if let Some(pem) = &self.ca_cert
            && !pem.contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(invalid("ca_cert", "must be a PEM certificate"));
        }
        if let Some(url) = self.prometheus_url.as_deref().filter(|u| !u.is_empty()) {
            check_url("prometheus_url", url)?;
        }
        if let Some(s) = self.refresh_interval_s
            && !(0..=30 * 86_400).contains(&s)
        {
            return Err(invalid(
                "refresh_interval_s",
                "must be between 0 (off) and 2592000",
            ));
        }
        let auth_kind = if kubeconfig.is_some() {
            "kubeconfig"
        } else {
            "token"
        };
        self.kubeconfig = kubeconfig;
        Ok(ValidProvider {
            input: self,
            api_url,
            auth_kind,
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
    let credentials = match &p.input.token {
        Some(t) => keys.encrypt(t.trim())?,
        None => String::new(),
    };
    let now = chrono::Utc::now().naive_utc();
    let inserted = diesel::insert_into(providers::table)
        .values((
            providers::name.eq(&p.input.name),
            providers::provider_type.eq(&p.input.provider_type),
            providers::zone_id.eq(zone_id),
            providers::api_url.eq(&p.api_url),
            providers::auth_kind.eq(p.auth_kind),
            providers::credentials.eq(credentials),
            providers::kubeconfig_path.eq(p.input.kubeconfig.clone().unwrap_or_default()),
            providers::verify_tls.eq(p.input.verify_tls.unwrap_or(true)),
            providers::ca_cert.eq(p.input.ca_cert.clone().unwrap_or_default()),
            providers::prometheus_url.eq(p.input.prometheus_url.clone().unwrap_or_default()),
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
    Ok(providers::table
        .filter(providers::name.eq(&p.input.name))
        .first(conn)
        .map_err(DbError::from)?)
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
    /// A new bearer token (stored encrypted).
    pub token: Option<String>,
    pub verify_tls: Option<bool>,
    pub ca_cert: Option<String>,
    pub prometheus_url: Option<String>,
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
) -> Result<Provider, ProviderError> {
    let (old, zone) = find_provider(conn, id)?;
    let token = match edit.token {
        Some(t) => Some(t),
        None if !old.credentials.is_empty() => {
            Some(keys.decrypt(&old.credentials)?.expose().to_string())
        }
        None => None,
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let input = ProviderInput {
        name: edit.name.unwrap_or(old.name.clone()),
        provider_type: old.provider_type.clone(),
        zone: Some(zone),
        api_url: edit.api_url.or_else(|| non_empty(&old.api_url)),
        token,
        kubeconfig: non_empty(&old.kubeconfig_path),
        verify_tls: Some(edit.verify_tls.unwrap_or(old.verify_tls)),
        ca_cert: edit.ca_cert.or_else(|| non_empty(&old.ca_cert)),
        prometheus_url: edit
            .prometheus_url
            .or_else(|| non_empty(&old.prometheus_url)),
        refresh_interval_s: edit.refresh_interval_s.or(old.refresh_interval_s),
        get_container_images: edit.get_container_images.or(old.get_container_images),
        store_unused_images: edit.store_unused_images.or(old.store_unused_images),
    };
    let valid = input.validate().map_err(ProviderError::Invalid)?;
    let credentials = match &valid.input.token {
        Some(t) => keys.encrypt(t.trim())?,
        None => String::new(),
    };
    let updated = diesel::update(providers::table.find(id))
        .set((
            providers::name.eq(&valid.input.name),
            providers::api_url.eq(&valid.api_url),
            providers::auth_kind.eq(valid.auth_kind),
            providers::credentials.eq(credentials),
            providers::verify_tls.eq(valid.input.verify_tls.unwrap_or(true)),
            providers::ca_cert.eq(valid.input.ca_cert.clone().unwrap_or_default()),
            providers::prometheus_url.eq(valid.input.prometheus_url.clone().unwrap_or_default()),
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
        let v = input().validate().expect("valid");
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
                    kubeconfig: Some("/nonexistent".into()),
                    api_url: None,
                    token: None,
                    ..input()
                },
                "kubeconfig",
            ),
        ];
        for (i, field) in cases {
            let err = i.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }
}
