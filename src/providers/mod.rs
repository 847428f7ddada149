//! Providers (the seed's EMS): their records and credentials, how to connect to them,
//! their refresh history, and queueing their refreshes.

mod connection;
mod record;
mod refreshes;

pub use connection::{PrometheusAccess, access_for, prometheus_access_for};
pub use record::{
    InvalidProvider, MAX_KUBECONFIG, PROMETHEUS_AUTH, PROVIDER_TYPES, Provider, ProviderEdit,
    ProviderError, ProviderInput, ProviderView, Sealed, ValidProvider, delete_provider,
    find_provider, insert_provider, list_providers, providers_in_zone, queue_name,
    set_metrics_status, set_protected, set_provider_endpoint, set_provider_stale,
    set_provider_status, update_provider,
};
pub use refreshes::{
    RefreshRecord, Timings, list_refreshes, newest_refresh_id, record_refresh, refreshes_after,
};

use crate::queue::{DedupKey, MessageUpdate, NewMessage, PutOutcome, QueueClient};

/// The command of a full refresh: `Provider.refresh`.
pub const REFRESH_CLASS: &str = "Provider";
pub const REFRESH_METHOD: &str = "refresh";

/// The message of a full refresh of provider `id` in `zone`.
fn refresh_message(id: i64, zone: &str, timeout: std::time::Duration) -> NewMessage {
    let mut message = NewMessage::internal(REFRESH_CLASS, REFRESH_METHOD)
        .with_queue(&queue_name(id))
        .with_zone(zone)
        .with_instance(id)
        .with_task(&format!("refresh-provider-{id}"))
        .with_timeout(timeout);
    message.role = "ems_inventory".into();
    message
}

/// Queues a full refresh of provider `id` in `zone`: at most one waits (a request
/// while one waits is merged into it), and its task id keeps it from being claimed
/// while another runs — one running, one waiting, never more. `delay` holds it back (retries after a failure); a request without one
/// brings a waiting, delayed refresh forward to now.
pub async fn queue_refresh(
    queue: &QueueClient,
    id: i64,
    zone: &str,
    timeout: std::time::Duration,
    delay: Option<std::time::Duration>,
) -> Result<PutOutcome, crate::db::DbError> {
    let mut message = refresh_message(id, zone, timeout);
    let now = delay.is_none();
    if let Some(delay) = delay {
        let at = chrono::Utc::now().naive_utc()
            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
        message = message.deliver_on(at);
    }
    queue
        .put_or_update(message, DedupKey::WAITING, move |waiting| {
            (now && waiting.deliver_on.is_some()).then(|| MessageUpdate {
                deliver_now: true,
                ..Default::default()
            })
        })
        .await
}

/// Queues a full refresh the schedule found due (a provider new to the worker set, or
/// one whose last refresh is older than its interval) — unless one is already waiting
/// or running. The schedule never adds a second refresh behind a running one (a new
/// provider's first refresh has no `last_refresh_on` until it ends, so every look
/// meanwhile finds it "overdue"), and never hurries a retry that waits out its backoff.
pub async fn queue_due_refresh(
    queue: &QueueClient,
    id: i64,
    zone: &str,
    timeout: std::time::Duration,
) -> Result<PutOutcome, crate::db::DbError> {
    queue
        .put_unless_exists(
            refresh_message(id, zone, timeout),
            DedupKey::WAITING_OR_RUNNING,
        )
        .await
}
