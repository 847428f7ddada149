//! The `Registry` actor: this node's view of the region. It heart-beats this server's
//! row (with RSS and CPU), sweeps silent servers to `not_responding`, activates this
//! server's roles, keeps a fresh [`RegionView`], and answers "which servers run which
//! roles". A failing database is retried with backoff and reported, never fatal.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use super::process_stats::{ProcessSample, ProcessSampler};
use crate::backoff::Backoff;
use crate::db::Db;
use crate::region::{self, HeartbeatOutcome, RegionView, ServerView};

/// Heartbeat and view maintenance for one server.
pub struct Registry {
    db: Db,
    server_id: i64,
    interval: Duration,
    timeout: Duration,
    sampler: ProcessSampler,
    last_sample: ProcessSample,
    view: Option<Arc<RegionView>>,
    backoff: Backoff,
    beats: u64,
}

impl Registry {
    pub fn new(db: Db, server_id: i64, interval: Duration, timeout: Duration) -> Self {
        Self {
            db,
            server_id,
            interval,
            timeout,
            sampler: ProcessSampler::new(),
            last_sample: ProcessSample::default(),
            view: None,
            backoff: Backoff::new(interval, Duration::from_secs(30).max(interval)),
            beats: 0,
        }
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

type BeatResult = (HeartbeatOutcome, Vec<String>, RegionView);

impl Handler<HeartbeatLoop> for Registry {
    type Result = ();

    fn handle(&mut self, _: HeartbeatLoop, ctx: &mut Self::Context) {
        let sample = self.sampler.sample();
        self.last_sample = sample;
        let (db, id, timeout) = (self.db.clone(), self.server_id, self.timeout);
        let beat = async move {
            db.run(move |conn| -> Result<BeatResult, crate::db::DbError> {
                let outcome = region::heartbeat(
                    conn,
                    id,
                    sample.rss_bytes as i64,
                    sample.cpu_percent,
                    timeout,
                )?;
                let cutoff = Utc::now().naive_utc()
                    - chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::seconds(30));
                let activated = region::sync_role_activation(conn, id, cutoff)?;
                let view = region::load_region_view(conn)?;
                Ok((outcome, activated, view))
            })
            .await
        };
        ctx.spawn(beat.into_actor(self).map(|result, act, ctx| {
            let delay = match result {
                Ok((outcome, activated, view)) => {
                    if act.backoff.attempts() > 0 {
                        tracing::info!(
                            after_failures = act.backoff.attempts(),
                            "heartbeat: database reachable again"
                        );
                    }
                    act.backoff.reset();
                    act.beats += 1;
                    report(&outcome, &activated);
                    act.view = Some(Arc::new(view));
                    act.interval
                }
                Err(error) => {
                    let delay = act.backoff.next_delay();
                    tracing::warn!(
                        %error,
                        attempt = act.backoff.attempts(),
                        retry_in_ms = delay.as_millis() as u64,
                        "heartbeat failed; retrying"
                    );
                    delay
                }
            };
            ctx.notify_later(HeartbeatLoop, delay);
        }));
    }
}

fn report(outcome: &HeartbeatOutcome, activated: &[String]) {
    for (id, name) in &outcome.marked_not_responding {
        tracing::warn!(server_id = id, server = %name, "server stopped heart-beating; marked not_responding");
    }
    if outcome.became_master {
        tracing::info!("this server is now the region's master");
    }
    if !activated.is_empty() {
        tracing::info!(roles = %activated.join(","), "roles activated");
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
