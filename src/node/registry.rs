//! The `Registry`: this node's heartbeat and its view of the region, a supervised
//! component. On every heartbeat, in one transaction, it writes this server's row
//! (RSS and CPU), sweeps silent servers to `not_responding` (requeueing their
//! messages), renews or takes or releases role leases, and keeps one master — all by
//! the database's clock. It then publishes the routes this node claims for — its
//! active roles and whether it is master — on a watch channel that the dispatcher
//! and other role-driven components follow.
//!
//! A failing database is retried with backoff and reported, never fatal. While it
//! cannot beat, a watchdog judges how long it has been:
//!
//! ```text
//!  last beat ok ──┬── > roles.lease_duration ──► single-active roles dropped here
//!                 └── > server.heartbeat_timeout ──► claims lost (ClaimFence):
//!                      mailboxed messages handed back, no claiming until a beat
//!                      succeeds; in-flight results count only if their claim holds
//!  beat ok again ──► claiming resumes; other servers are judged only after this one
//!                    has beaten for a whole heartbeat_timeout (after an outage every
//!                    server's last beat is old: nobody is declared dead for it)
//! ```
//!
//! What must outlive a rebuild — the routes channel, the fence, when it last beat —
//! lives in the component value.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::watch;

use super::process_stats::ProcessSampler;
use crate::backoff::Backoff;
use crate::db::Db;
use crate::queue::{ClaimFence, RoutesChanged};
use crate::region::{self, HeartbeatOutcome, HeartbeatPolicy};
use crate::supervision::{Component, ComponentContext, ComponentFuture};

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

/// What the registry knows about its own beating, kept across rebuilds.
#[derive(Debug)]
struct Health {
    last_success: Instant,
    /// Since when this server has been beating without a gap.
    healthy_since: Instant,
    /// Claims were lost and not yet resumed.
    lapsed: bool,
    /// Single-active roles were dropped locally.
    roles_dropped: bool,
}

/// The heartbeat component of one server.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    server_id: i64,
    config: RegistryConfig,
    routes: Arc<watch::Sender<RoutesChanged>>,
    fence: Arc<ClaimFence>,
    pressure: Option<Recipient<MemoryPressure>>,
    health: Arc<Mutex<Health>>,
}

impl Registry {
    /// A registry for the server `server_id`, which has just registered.
    pub fn new(
        db: Db,
        server_id: i64,
        config: RegistryConfig,
        routes: watch::Sender<RoutesChanged>,
        fence: Arc<ClaimFence>,
        pressure: Option<Recipient<MemoryPressure>>,
    ) -> Self {
        let now = Instant::now();
        Self {
            db,
            server_id,
            config,
            routes: Arc::new(routes),
            fence,
            pressure,
            health: Arc::new(Mutex::new(Health {
                last_success: now,
                healthy_since: now,
                lapsed: false,
                roles_dropped: false,
            })),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
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

    /// The watchdog: what not having beaten for a while means for this node.
    fn check_silence(&self) {
        let policy = self.config.policy;
        let (silent_for, lose_claims, drop_roles) = {
            let mut h = self.health();
            let silent_for = h.last_success.elapsed();
            let lose_claims = silent_for > policy.heartbeat_timeout && !h.lapsed;
            let drop_roles = silent_for > policy.lease && !h.roles_dropped;
            h.lapsed |= lose_claims;
            h.roles_dropped |= drop_roles;
            (silent_for, lose_claims, drop_roles)
        };
        if drop_roles {
            let current = self.routes.borrow().clone();
            let kept: Vec<String> = current
                .active_roles
                .iter()
                .filter(|r| crate::roles::find(r).is_some_and(|s| s.max_concurrent == 0))
                .cloned()
                .collect();
            if kept.len() != current.active_roles.len() {
                tracing::warn!(
                    silent_s = silent_for.as_secs_f64(),
                    "could not heart-beat for longer than a role lease: dropping single-active roles here"
                );
            }
            self.publish(RoutesChanged {
                active_roles: kept,
                is_master: false,
            });
        }
        if lose_claims {
            self.fence.lose_claims();
            tracing::warn!(
                silent_s = silent_for.as_secs_f64(),
                "could not heart-beat for longer than server.heartbeat_timeout: this server's claims are treated as lost (messages not started are handed back; nothing is claimed until a heartbeat succeeds)"
            );
        }
    }

    /// Whether this server has been beating long enough to judge the others: for a
    /// whole `heartbeat_timeout` without a gap — and the beat about to happen does not
    /// end a gap itself (after an outage, every server's last beat is old).
    fn may_judge_others(&self) -> bool {
        let h = self.health();
        let timeout = self.config.policy.heartbeat_timeout;
        h.healthy_since.elapsed() >= timeout && h.last_success.elapsed() <= timeout / 2
    }

    fn on_success(&self, outcome: &HeartbeatOutcome) {
        let was_lapsed = {
            let mut h = self.health();
            let now = Instant::now();
            // A gap of more than half the timeout restarts the count of continuous beats.
            if h.last_success.elapsed() > self.config.policy.heartbeat_timeout / 2 {
                h.healthy_since = now;
            }
            h.last_success = now;
            h.roles_dropped = false;
            std::mem::replace(&mut h.lapsed, false)
        };
        if outcome.was_not_responding && !was_lapsed {
            // Judged dead by another server (its messages were requeued) without
            // having noticed: whatever it still holds in mailboxes is not its own.
            self.fence.lose_claims();
        }
        if was_lapsed || outcome.was_not_responding {
            tracing::warn!(
                was_marked_not_responding = outcome.was_not_responding,
                "heart-beating again after losing the database; claiming anew"
            );
        }
        self.fence.resume();
        report(outcome);
        self.publish(RoutesChanged {
            active_roles: outcome.active_roles.clone(),
            is_master: outcome.is_master,
        });
    }
}

impl Component for Registry {
    fn name(&self) -> &'static str {
        "registry"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        Box::pin(beat_loop(self.clone(), ctx))
    }

    fn progress_timeout(&self) -> Option<Duration> {
        // The loop records progress at every watchdog tick, beat or no beat.
        Some(Duration::from_secs(60).max(self.config.interval * 4))
    }
}

async fn beat_loop(r: Registry, ctx: ComponentContext) -> Result<(), String> {
    let mut sampler = ProcessSampler::new();
    let interval = r.config.interval;
    // Retries stay well inside the heartbeat timeout: when the database comes back,
    // every node must beat again before a peer that resumed first may judge it (a peer
    // judges only after beating for a whole timeout itself). A longer backoff let a
    // live node sleep through that window and be declared dead.
    let retry_max = (r.config.policy.heartbeat_timeout / 3)
        .min(Duration::from_secs(30))
        .max(interval);
    let mut backoff = Backoff::new(interval, retry_max);
    let watch_every = (r.config.policy.lease.min(r.config.policy.heartbeat_timeout) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut watchdog = tokio::time::interval(watch_every);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_beat = tokio::time::Instant::now();
    loop {
        // Wait for the next beat, watching for silence meanwhile.
        loop {
            tokio::select! {
                _ = ctx.stopped() => return Ok(()),
                _ = tokio::time::sleep_until(next_beat) => break,
                _ = watchdog.tick() => {
                    ctx.progress();
                    r.check_silence();
                }
            }
        }
        let sample = sampler.sample();
        if sample.rss_bytes > r.config.memory_threshold
            && let Some(pressure) = &r.pressure
        {
            pressure.do_send(MemoryPressure {
                rss_bytes: sample.rss_bytes,
                threshold: r.config.memory_threshold,
            });
        }
        let (db, id, policy) = (r.db.clone(), r.server_id, r.config.policy);
        let judge = r.may_judge_others();
        let beat = db.run(move |conn| {
            let figures = region::ProcessFigures {
                rss_bytes: sample.rss_bytes as i64,
                heap_bytes: sample.heap_bytes as i64,
                cpu_percent: sample.cpu_percent,
            };
            region::heartbeat(conn, id, &figures, &policy, judge)
        });
        tokio::pin!(beat);
        let result = loop {
            tokio::select! {
                result = &mut beat => break result,
                _ = ctx.stopped() => return Ok(()),
                _ = watchdog.tick() => {
                    ctx.progress();
                    r.check_silence();
                }
            }
        };
        ctx.progress();
        let delay = match result {
            Ok(outcome) => {
                if backoff.attempts() > 0 {
                    tracing::info!(
                        after_failures = backoff.attempts(),
                        "heartbeat: database reachable again"
                    );
                }
                backoff.reset();
                r.on_success(&outcome);
                interval
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    %error,
                    attempt = backoff.attempts(),
                    retry_in_ms = delay.as_millis() as u64,
                    "heartbeat failed; retrying"
                );
                r.check_silence();
                delay
            }
        };
        next_beat = tokio::time::Instant::now() + delay;
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
