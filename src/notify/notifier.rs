//! `Notifier`: a supervised component that, while this server holds the `notifier`
//! role, delivers the outbox's due notifications (a few at a time), records every
//! attempt, retries failures with backoff until `notifier.give_up_after`, and reports
//! a target that keeps failing with an alert of its own (resolved by its next
//! delivery).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::deliver::Deliverer;
use super::store::{Attempt, Due, due, record_attempt};
use crate::alerts::{NewAlert, SOURCE_STEWARD, raise, resolve_open};
use crate::db::Db;
use crate::queue::RoutesChanged;
use crate::settings::NotifierSettings;
use crate::supervision::{Component, ComponentContext, ComponentFuture};

/// Notifications delivered at once.
const PARALLEL: usize = 8;
/// Notifications read per look.
const BATCH: i64 = 64;

#[derive(Clone)]
pub struct Notifier {
    pub db: Db,
    pub settings: Arc<NotifierSettings>,
    pub routes: watch::Receiver<RoutesChanged>,
}

impl Notifier {
    fn holds_role(&self) -> bool {
        self.routes
            .borrow()
            .active_roles
            .iter()
            .any(|r| r == "notifier")
    }

    /// The delay before attempt `attempts + 1`.
    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.clamp(0, 20) as u32);
        self.settings
            .retry_backoff
            .saturating_mul(factor)
            .min(self.settings.retry_backoff_max)
    }

    /// One look at the outbox; how many were attempted.
    async fn round(&self, deliverer: &Deliverer) -> Result<usize, String> {
        let now = crate::clock::now();
        let batch = self
            .db
            .run(move |c| due(c, now, BATCH))
            .await
            .map_err(|e| e.to_string())?;
        let n = batch.len();
        for chunk in batch.chunks(PARALLEL) {
            let attempts = chunk.iter().map(|d| self.attempt(deliverer, d));
            futures::future::join_all(attempts).await;
        }
        Ok(n)
    }

    async fn attempt(&self, deliverer: &Deliverer, n: &Due) {
        let began = Instant::now();
        let outcome = deliverer.deliver(n).await;
        let at = crate::clock::now();
        let ok = outcome.is_ok();
        let detail = match &outcome {
            Ok(d) | Err(d) => d.clone(),
        };
        let attempt = Attempt {
            at,
            ok,
            detail: detail.clone(),
            duration_ms: began.elapsed().as_millis() as i64,
        };
        let id = n.id;
        let age = (at - n.created_on).to_std().unwrap_or_default();
        let retry_on = (!ok && age < self.settings.give_up_after)
            .then(|| at + chrono::Duration::from_std(self.backoff(n.attempts)).unwrap_or_default());
        if ok {
            tracing::info!(notification = id, kind = %n.kind, %detail, "notification delivered");
        } else {
            tracing::warn!(notification = id, kind = %n.kind, %detail, attempts = n.attempts + 1, gave_up = retry_on.is_none(), "notification not delivered");
        }
        let record = self
            .db
            .run(move |c| record_attempt(c, id, &attempt, retry_on))
            .await;
        if let Err(error) = record {
            tracing::warn!(notification = id, %error, "cannot record the delivery attempt");
            return;
        }
        self.report_target(n, ok, n.attempts + 1, &detail).await;
    }

    /// A target that failed `alert_after_failures` times in a row is reported by an
    /// alert; its next delivery resolves it.
    async fn report_target(&self, n: &Due, ok: bool, attempts: i32, detail: &str) {
        // The target as shown: a URL without its query, or the recipients.
        let shown = n.target.split('?').next().unwrap_or_default().to_string();
        let fingerprint = format!("notification_target:{}:{shown}", n.kind);
        let result = if ok {
            self.db
                .run(move |c| resolve_open(c, SOURCE_STEWARD, &fingerprint).map(|_| ()))
                .await
        } else if attempts >= self.settings.alert_after_failures as i32 {
            let alert = NewAlert {
                source: SOURCE_STEWARD,
                name: "notification_target_down".into(),
                fingerprint,
                severity: "error".into(),
                description: format!(
                    "{} notifications to {shown} keep failing ({attempts} attempts): {detail}",
                    n.kind
                ),
                url: String::new(),
                provider_id: None,
                container_node_id: None,
                container_group_id: None,
                container_project_id: None,
                target_kind: "notification_target".into(),
                target_name: shown,
                labels: "{}".into(),
                event_stream_id: None,
                started_on: crate::clock::now(),
            };
            self.db.run(move |c| raise(c, &alert).map(|_| ())).await
        } else {
            Ok(())
        };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot record the notification target's alert");
        }
    }
}

impl Component for Notifier {
    fn name(&self) -> &'static str {
        "notifier"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        let mut me = self.clone();
        Box::pin(async move {
            let deliverer = Deliverer::new(&me.settings)?;
            loop {
                let busy = if me.holds_role() {
                    match me.round(&deliverer).await {
                        Ok(n) => n as i64 >= BATCH,
                        Err(error) => {
                            tracing::warn!(%error, "cannot read the notification outbox");
                            false
                        }
                    }
                } else {
                    false
                };
                if busy {
                    continue;
                }
                tokio::select! {
                    _ = ctx.stopped() => return Ok(()),
                    _ = tokio::time::sleep(me.settings.poll_interval) => {}
                    changed = me.routes.changed() => if changed.is_err() {
                        return Err("the routes channel closed".into());
                    },
                }
            }
        })
    }
}
