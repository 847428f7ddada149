//! What a supervised component is, and what each incarnation gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;
use tokio_util::sync::CancellationToken;

/// One incarnation's run: `Ok(())` once asked to stop, `Err(reason)` when it gives up.
/// Ending `Ok` without having been asked to stop counts as a failure.
pub type ComponentFuture = LocalBoxFuture<'static, Result<(), String>>;

/// A long-running part of a node, built afresh by [`Component::run`] after each
/// failure.
pub trait Component: 'static {
    /// Stable name, shown in `steward status` and the API (`registry`, …).
    fn name(&self) -> &'static str;

    /// Builds a new incarnation and runs it until `ctx` asks it to stop.
    fn run(&self, ctx: ComponentContext) -> ComponentFuture;

    /// How long the component may go without [`ComponentContext::progress`] before it
    /// is abandoned and rebuilt; `None` for components whose waits are unbounded by
    /// nature (a listener waiting for the next message).
    fn progress_timeout(&self) -> Option<Duration> {
        None
    }
}

/// What one incarnation is given: its stop signal and its progress probe.
#[derive(Clone)]
pub struct ComponentContext {
    stop: CancellationToken,
    progress: Arc<Progress>,
}

impl ComponentContext {
    pub(super) fn new(stop: CancellationToken, progress: Arc<Progress>) -> Self {
        Self { stop, progress }
    }

    /// A context that is never stopped by anyone but its holder: for running a
    /// component outside a supervisor (tests, benchmarks).
    pub fn detached() -> (Self, CancellationToken) {
        let stop = CancellationToken::new();
        (Self::new(stop.clone(), Arc::new(Progress::new())), stop)
    }

    /// Resolves when the component is asked to stop.
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// Whether the component has been asked to stop.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// The stop signal itself, for a thread the component runs.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Records progress: the component is alive and getting somewhere (a legitimate
    /// long wait — a database retry, a sleep — records it on each round).
    pub fn progress(&self) {
        self.progress.record();
    }

    /// The probe, for work the component hands to another thread.
    pub fn progress_probe(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}

/// When a component last made progress.
#[derive(Debug)]
pub struct Progress {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records progress now.
    pub fn record(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last progress (or since the probe was made).
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}
