//! Waking idle dispatchers of other processes: on PostgreSQL a thread holds a
//! connection that `LISTEN`s on the queue channel and bumps the in-process queue
//! signal when a `NOTIFY` arrives. It listens on the inventory channel too
//! ([`crate::db::INVENTORY_CHANNEL`]), bumping the inventory signal that wakes the live
//! feed: one connection and one thread per node for both. libpq only reads notifications when asked, so the
//! thread asks every 10 ms — a non-blocking read on a local socket, no query. A lost
//! connection is re-established with backoff; the dispatchers' poll covers the gap.
//!
//! It is a supervised [`Component`] (`queue_listener`): each incarnation runs one
//! thread, which ends when the incarnation is stopped or dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::RunQueryDsl;

use super::put::NOTIFY_CHANNEL;
use crate::backoff::Backoff;
use crate::db::{Db, DbConnection, INVENTORY_CHANNEL};
use crate::supervision::{Component, ComponentContext, ComponentFuture, Progress};

/// The LISTEN thread, as a component (PostgreSQL only; SQLite relies on the
/// in-process signal and polling).
#[derive(Clone)]
pub struct QueueListener {
    pub db: Db,
}

impl Component for QueueListener {
    fn name(&self) -> &'static str {
        "queue_listener"
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        let db = self.db.clone();
        Box::pin(async move {
            let stop = Arc::new(AtomicBool::new(false));
            // Whatever ends this incarnation — a stop, a panic, an abort — ends its thread.
            let _guard = StopOnDrop(stop.clone());
            let (flag, progress) = (stop.clone(), ctx.progress_probe());
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            // A thread of its own, not the blocking pool: the runtime never waits for it.
            std::thread::Builder::new()
                .name("queue-listen".into())
                .spawn(move || {
                    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run(db, flag, progress)
                    }));
                    let _ =
                        done_tx.send(ended.map_err(|p| crate::workers::panic_message(p.as_ref())));
                })
                .map_err(|e| format!("cannot start the LISTEN thread: {e}"))?;
            tokio::select! {
                _ = ctx.stopped() => Ok(()),
                ended = done_rx => match ended {
                    Ok(Ok(())) => Err("the LISTEN thread ended".into()),
                    Ok(Err(panic)) => Err(format!("the LISTEN thread panicked: {panic}")),
                    Err(_) => Err("the LISTEN thread vanished".into()),
                },
            }
        })
    }

    fn progress_timeout(&self) -> Option<Duration> {
        // The thread records progress every 10 ms while listening, and on each
        // reconnection attempt (at most 30 s apart).
        Some(Duration::from_secs(90))
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn run(db: Db, stop: Arc<AtomicBool>, progress: Arc<Progress>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    while !stop.load(Ordering::Relaxed) {
        progress.record();
        match db.dedicated_connection() {
            Ok(DbConnection::Postgresql(mut pg)) => {
                let listening = diesel::sql_query(format!("LISTEN {NOTIFY_CHANNEL}"))
                    .execute(&mut pg)
                    .and_then(|_| {
                        diesel::sql_query(format!("LISTEN {INVENTORY_CHANNEL}")).execute(&mut pg)
                    });
                if let Err(error) = listening {
                    tracing::warn!(%error, "queue LISTEN failed");
                } else {
                    backoff.reset();
                    // Anything put while we were away: wake up once.
                    db.signal_queue();
                    db.signal_inventory();
                    listen(&db, &mut pg, &stop, &progress);
                }
            }
            Ok(DbConnection::Sqlite(_)) => return,
            Err(error) => tracing::debug!(%error, "queue LISTEN connection failed"),
        }
        let wake_at = std::time::Instant::now() + backoff.next_delay();
        while std::time::Instant::now() < wake_at {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            progress.record();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn listen(db: &Db, pg: &mut diesel::PgConnection, stop: &AtomicBool, progress: &Progress) {
    while !stop.load(Ordering::Relaxed) {
        progress.record();
        let (mut woke, mut inventory) = (false, false);
        for notification in pg.notifications_iter() {
            match notification {
                Ok(n) if n.channel == INVENTORY_CHANNEL => inventory = true,
                Ok(_) => woke = true,
                Err(error) => {
                    tracing::warn!(%error, "queue LISTEN connection lost; reconnecting");
                    return;
                }
            }
        }
        if woke {
            db.signal_queue();
        }
        if inventory {
            db.signal_inventory();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
