//! Waking idle dispatchers of other processes: a thread per process holds a PostgreSQL
//! connection that `LISTEN`s on the queue channel and bumps the in-process queue
//! signal when a `NOTIFY` arrives. libpq only reads notifications when asked, so the
//! thread asks every 10 ms — a non-blocking read on a local socket, no query. A lost
//! connection is re-established with backoff; the dispatchers' poll covers the gap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::RunQueryDsl;

use super::put::NOTIFY_CHANNEL;
use crate::backoff::Backoff;
use crate::db::{Backend, Db, DbConnection};

/// Stops the LISTEN thread when dropped.
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the LISTEN thread for `db` (PostgreSQL only; SQLite relies on the
/// in-process signal and polling).
pub fn listen_for_puts(db: &Db) -> Option<Listener> {
    if db.backend() != Backend::Postgres {
        return None;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let db = db.clone();
    let spawned = std::thread::Builder::new()
        .name("queue-listen".into())
        .spawn(move || run(db, flag));
    match spawned {
        Ok(_) => Some(Listener { stop }),
        Err(error) => {
            tracing::warn!(%error, "cannot start the queue LISTEN thread; relying on polling");
            None
        }
    }
}

fn run(db: Db, stop: Arc<AtomicBool>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    while !stop.load(Ordering::Relaxed) {
        match db.dedicated_connection() {
            Ok(DbConnection::Postgresql(mut pg)) => {
                if let Err(error) =
                    diesel::sql_query(format!("LISTEN {NOTIFY_CHANNEL}")).execute(&mut pg)
                {
                    tracing::warn!(%error, "queue LISTEN failed");
                } else {
                    backoff.reset();
                    // Anything put while we were away: wake up once.
                    db.signal_queue();
                    listen(&db, &mut pg, &stop);
                }
            }
            Ok(DbConnection::Sqlite(_)) => return,
            Err(error) => tracing::debug!(%error, "queue LISTEN connection failed"),
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(backoff.next_delay());
    }
}

fn listen(db: &Db, pg: &mut diesel::PgConnection, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut woke = false;
        for notification in pg.notifications_iter() {
            match notification {
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
        std::thread::sleep(Duration::from_millis(10));
    }
}
