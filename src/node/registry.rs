//! The `Registry` actor: this node's view of the region. On every heartbeat, in one
//! transaction, it writes this server's row (RSS and CPU), sweeps silent servers to
//! `not_responding` (requeueing their messages), renews or takes or releases role
//! leases, and keeps one master. It then publishes the routes this node claims for —
//! its active roles and whether it is master — on a watch channel that the
//! dispatcher and other role-driven actors follow, keeps a fresh [`RegionView`], and
//! answers "which servers run which roles".
//!
//! A failing database is retried with backoff and reported, never fatal. If the
//! database stays unreachable for longer than a role lease, the node drops its
//! single-active roles locally: another server may hold them by now.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::watch;

use super::process_stats::{ProcessSample, ProcessSampler};
use crate::backoff::Backoff;
use crate::db::Db;
use crate::queue::RoutesChanged;
use crate::region::{self, HeartbeatOutcome, HeartbeatPolicy, RegionView, ServerView};

/// Sent when the process's RSS is above `server.memory_threshold`.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct MemoryPressure {
    pub rss_bytes: u64,
    pub threshold: u64,
}

/// How the registry beats.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub interval: Duration,
    pub policy: HeartbeatPolicy,
    pub memory_threshold: u64,
}

/// Heartbeat, leases and the region view for one server.
pub struct Registry {
    db: Db,
    server_id: i64,
    config: RegistryConfig,
    sampler: ProcessSampler,
    last_sample: ProcessSample,
    view: Option<Arc<RegionView>>,
    backoff: Backoff,
    beats: u64,
    last_success: Instant,
    routes: watch::Sender<RoutesChanged>,
    pressure: Option<Recipient<MemoryPressure>>,
}

impl Registry {
    pub fn new(
        db: Db,
        server_id: i64,
        config: RegistryConfig,
        routes: watch::Sender<RoutesChanged>,
        pressure: Option<Recipient<MemoryPressure>>,
    ) -> Self {
        let backoff = Backoff::new(
            config.interval,
            Duration::from_secs(30).max(config.interval),
        );
        Self {
            db,
            server_id,
            config,
            sampler: ProcessSampler::new(),
            last_sample: ProcessSample::default(),
            view: None,
            backoff,
            beats: 0,
            last_success: Instant::now(),
            routes,
            pressure,
        }
    }

    /// Publishes new routes, logging which roles came and went.
    fn publish(&self, next: RoutesChanged) {
        let current = self.routes.borrow().clone();
        if current == next {
            return;
        }
        let gained: Vec<&str> = next
            .active_roles
            .iter()
            .filter(|r| !current.active_roles.contains(r))
            .map(String::as_str)
            .collect();
        let lost: Vec<&str> = current
            .active_roles
            .iter()
            .filter(|r| !next.active_roles.contains(r))
            .map(String::as_str)
            .collect();
        if !gained.is_empty() {
            tracing::info!(roles = %gained.join(","), "roles activated");
        }
        if !lost.is_empty() {
            tracing::info!(roles = %lost.join(","), "roles deactivated");
        }
        if next.is_master && !current.is_master {
            tracing::info!("this server is now the region's master");
        }
        self.routes.send_replace(next);
    }

    fn on_failure(&mut self, error: &crate::db::DbError) -> Duration {
        let delay = self.backoff.next_delay();
        tracing::warn!(
            %error,
            attempt = self.backoff.attempts(),
            retry_in_ms = delay.as_millis() as u64,
            "heartbeat failed; retrying"
        );
        if self.last_success.elapsed() > self.config.policy.lease {
            let current = self.routes.borrow().clone();
            let kept: Vec<String> = current
                .active_roles
                .iter()
                .filter(|r| crate::roles::find(r).is_some_and(|s| s.max_concurrent == 0))
                .cloned()
                .collect();
            if kept.len() != current.active_roles.len() {
                tracing::warn!(
                    "database unreachable for longer than a role lease: dropping single-active roles here"
                );
            }
            self.publish(RoutesChanged {
                active_roles: kept,
                is_master: false,
            });
        }
        delay
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.notify(HeartbeatLoop);
    }
}

/// The periodic heartbeat; each run schedules the next one.
#[derive(Message)]
#[rtype(result = "()")]
struct HeartbeatLoop;

type BeatResult = (HeartbeatOutcome, RegionView);

impl Handler<HeartbeatLoop> for Registry {
    type Result = ();

    fn handle(&mut self, _: HeartbeatLoop, ctx: &mut Self::Context) {
        let sample = self.sampler.sample();
        self.last_sample = sample;
        if sample.rss_bytes > self.config.memory_threshold
            && let Some(pressure) = &self.pressure
        {
            pressure.do_send(MemoryPressure {
                rss_bytes: sample.rss_bytes,
                threshold: self.config.memory_threshold,
            });
        }
        let (db, id, policy) = (self.db.clone(), self.server_id, self.config.policy);
        let beat = async move {
            db.run(move |conn| -> Result<BeatResult, crate::db::DbError> {
                let outcome = region::heartbeat(
                    conn,
                    id,
                    sample.rss_bytes as i64,
                    sample.cpu_percent,
                    &policy,
                )?;
                let view = region::load_region_view(conn)?;
                Ok((outcome, view))
            })
            .await
        };
        ctx.spawn(beat.into_actor(self).map(|result, act, ctx| {
            let delay = match result {
                Ok((outcome, view)) => {
                    if act.backoff.attempts() > 0 {
                        tracing::info!(
                            after_failures = act.backoff.attempts(),
                            "heartbeat: database reachable again"
                        );
                    }
                    act.backoff.reset();
                    act.beats += 1;
                    act.last_success = Instant::now();
                    report(&outcome);
                    act.publish(RoutesChanged {
                        active_roles: outcome.active_roles.clone(),
                        is_master: outcome.is_master,
                    });
                    act.view = Some(Arc::new(view));
                    act.config.interval
                }
                Err(error) => act.on_failure(&error),
            };
            ctx.notify_later(HeartbeatLoop, delay);
        }));
    }
}

fn report(outcome: &HeartbeatOutcome) {
    for (id, name) in &outcome.marked_not_responding {
        tracing::warn!(server_id = id, server = %name, "server stopped heart-beating; marked not_responding");
    }
    let r = outcome.requeued;
    if r.ready + r.failed > 0 {
        tracing::warn!(
            requeued = r.ready,
            failed = r.failed,
            "messages held by servers that stopped responding were returned to the queue"
        );
    }
}

/// The region as of the last successful heartbeat (`None` before the first).
#[derive(Message)]
#[rtype(result = "Option<Arc<RegionView>>")]
pub struct GetRegionView;

impl Handler<GetRegionView> for Registry {
    type Result = Option<Arc<RegionView>>;

    fn handle(&mut self, _: GetRegionView, _: &mut Self::Context) -> Self::Result {
        self.view.clone()
    }
}

/// Servers of the region that have `role` active, optionally only in `zone`.
#[derive(Message)]
#[rtype(result = "Vec<ServerView>")]
pub struct ListServersWithRole {
    pub role: String,
    pub zone: Option<String>,
}

impl Handler<ListServersWithRole> for Registry {
    type Result = Vec<ServerView>;

    fn handle(&mut self, msg: ListServersWithRole, _: &mut Self::Context) -> Self::Result {
        self.view
            .as_ref()
            .map(|v| {
                v.servers_with_active_role(&msg.role, msg.zone.as_deref())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// This process's last RSS/CPU sample and the number of successful beats.
#[derive(Message)]
#[rtype(result = "(ProcessSample, u64)")]
pub struct GetHeartbeatStats;

impl Handler<GetHeartbeatStats> for Registry {
    type Result = MessageResult<GetHeartbeatStats>;

    fn handle(&mut self, _: GetHeartbeatStats, _: &mut Self::Context) -> Self::Result {
        MessageResult((self.last_sample, self.beats))
    }
}
