//! A worker's observable state, shared between the worker (on its own thread) and its
//! pool (on the node's thread): heartbeat, current message, messages done, stop
//! request. Liveness is judged by progress: the heartbeat is written by a ticker on
//! the worker's own thread, so a handler that blocks the thread stops the beat, while
//! a handler that awaits (a legitimate wait) does not.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

/// A worker's status, as the `workers` table and the API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    Starting,
    Started,
    Working,
    Stopping,
    Stopped,
    Killed,
}

impl WorkerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Starting => "starting",
            WorkerStatus::Started => "started",
            WorkerStatus::Working => "working",
            WorkerStatus::Stopping => "stopping",
            WorkerStatus::Stopped => "stopped",
            WorkerStatus::Killed => "killed",
        }
    }
}

/// The message a worker is on.
#[derive(Debug, Clone)]
pub struct CurrentMessage {
    pub id: i64,
    /// The attempt number of this claim (with the server, it names the claim).
    pub attempt: i32,
    pub command: String,
    pub started: Instant,
    pub timeout: Duration,
}

/// Shared state of one worker incarnation.
pub struct WorkerProbe {
    /// e.g. `generic-2`.
    pub name: String,
    /// Memory-accounting slot of this incarnation.
    pub slot: u16,
    epoch: Instant,
    /// Milliseconds after `epoch` of the last beat; 0 = never beat.
    last_beat_ms: AtomicU64,
    messages_done: AtomicU64,
    current: Mutex<Option<CurrentMessage>>,
    stop_reason: Mutex<Option<String>>,
    stop_notify: Notify,
}

impl WorkerProbe {
    pub fn new(name: String, slot: u16) -> Self {
        Self {
            name,
            slot,
            epoch: Instant::now(),
            last_beat_ms: AtomicU64::new(0),
            messages_done: AtomicU64::new(0),
            current: Mutex::new(None),
            stop_reason: Mutex::new(None),
            stop_notify: Notify::new(),
        }
    }

    /// Records progress (called by the ticker on the worker's thread).
    pub fn beat(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_beat_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Time since the last beat (since creation if it never beat).
    pub fn beat_age(&self) -> Duration {
        let last = self.last_beat_ms.load(Ordering::Relaxed);
        self.epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }

    /// Whether the worker has beaten at least once.
    pub fn has_beaten(&self) -> bool {
        self.last_beat_ms.load(Ordering::Relaxed) > 0
    }

    /// How long this incarnation has existed.
    pub fn uptime(&self) -> Duration {
        self.epoch.elapsed()
    }

    pub fn start_message(&self, message: &crate::queue::QueueMessage, timeout: Duration) {
        *lock(&self.current) = Some(CurrentMessage {
            id: message.id,
            attempt: message.attempts,
            command: message.command(),
            started: Instant::now(),
            timeout,
        });
    }

    pub fn finish_message(&self) {
        *lock(&self.current) = None;
        self.messages_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn current(&self) -> Option<CurrentMessage> {
        lock(&self.current).clone()
    }

    pub fn messages_done(&self) -> u64 {
        self.messages_done.load(Ordering::Relaxed)
    }

    /// Asks the worker to exit after its current message.
    pub fn request_stop(&self, reason: &str) {
        let mut slot = lock(&self.stop_reason);
        if slot.is_none() {
            *slot = Some(reason.to_string());
        }
        drop(slot);
        self.stop_notify.notify_one();
    }

    /// Why the worker was asked to stop, if it was.
    pub fn stop_reason(&self) -> Option<String> {
        lock(&self.stop_reason).clone()
    }

    /// Resolves once a stop has been requested.
    pub async fn stop_requested(&self) {
        loop {
            if self.stop_reason().is_some() {
                return;
            }
            self.stop_notify.notified().await;
        }
    }

    /// Status as seen from outside.
    pub fn status(&self) -> WorkerStatus {
        if self.stop_reason().is_some() {
            WorkerStatus::Stopping
        } else if self.current().is_some() {
            WorkerStatus::Working
        } else if self.has_beaten() {
            WorkerStatus::Started
        } else {
            WorkerStatus::Starting
        }
    }
}

/// A poisoned lock only means a panic happened while it was held; the data (plain
/// values) is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
