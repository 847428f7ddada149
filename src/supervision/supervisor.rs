//! [`Supervision`]: runs each component of a node under a supervising task that
//! rebuilds it after a panic, an error, an unexpected end or a lack of progress.
//!
//! ```text
//!  start ─► incarnation 1 ──panic──► restarting (backoff 1 s) ─► incarnation 2 ──► …
//!                                   restarts +1, reason kept, log line
//!  > max_restarts within the window ─► failed ─► Fatal published ─► the node stops (exit 6)
//!  stop(name) ─► the incarnation's stop token fires ─► it returns Ok ─► stopped
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

use super::component::{Component, ComponentContext, Progress};
use super::faults::FaultHooks;
use super::record::ComponentState;
use crate::backoff::Backoff;

/// How components are restarted, and when supervision gives up.
#[derive(Debug, Clone, Copy)]
pub struct SupervisionLimits {
    /// Delay before the first restart, doubling per consecutive failure…
    pub restart_backoff: Duration,
    /// … up to this cap (and reset once an incarnation has lived longer than it).
    pub restart_backoff_max: Duration,
    /// More restarts than this within `restart_window` are fatal.
    pub max_restarts: u32,
    pub restart_window: Duration,
}

/// A component supervision gave up on: the node must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub component: String,
    pub reason: String,
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "component {} kept failing and was given up: {}",
            self.component, self.reason
        )
    }
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
    incarnation: Arc<Mutex<Option<AbortHandle>>>,
}

struct Inner {
    limits: SupervisionLimits,
    faults: FaultHooks,
    running: Mutex<HashMap<String, Running>>,
    states: Mutex<BTreeMap<String, ComponentState>>,
    changed: watch::Sender<u64>,
    fatal: watch::Sender<Option<Fatal>>,
}

/// The supervisor of a node's components. Cheap to clone; all clones are one.
#[derive(Clone)]
pub struct Supervision {
    inner: Arc<Inner>,
}

impl Supervision {
    pub fn new(limits: SupervisionLimits, faults: FaultHooks) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                faults,
                running: Mutex::new(HashMap::new()),
                states: Mutex::new(BTreeMap::new()),
                changed: watch::channel(0).0,
                fatal: watch::channel(None).0,
            }),
        }
    }

    /// The fault hooks of this node (for `Diagnostics.inject_fault`).
    pub fn faults(&self) -> &FaultHooks {
        &self.inner.faults
    }

    /// Starts supervising `component`. Must run inside the node's actix system.
    pub fn start(&self, component: impl Component) {
        let name = component.name();
        let stop = CancellationToken::new();
        let incarnation = Arc::new(Mutex::new(None));
        // Known to the fault hooks from now on, before its task first runs.
        self.inner.faults.hook(name);
        self.update(name, |s| s.status = "starting".into());
        let task = actix_rt::spawn(supervise(
            Box::new(component),
            self.clone(),
            stop.clone(),
            incarnation.clone(),
        ));
        let previous = lock(&self.inner.running).insert(
            name.to_string(),
            Running {
                stop,
                task,
                incarnation,
            },
        );
        if let Some(previous) = previous {
            previous.stop.cancel();
        }
    }

    /// Stops `name` and waits up to `deadline` for it; `false` if it had to be
    /// abandoned (or was not running).
    pub async fn stop(&self, name: &str, deadline: Duration) -> bool {
        let Some(running) = lock(&self.inner.running).remove(name) else {
            return false;
        };
        running.stop.cancel();
        let abort = running.task.abort_handle();
        match tokio::time::timeout(deadline, running.task).await {
            Ok(_) => true,
            Err(_) => {
                abort.abort();
                if let Some(handle) = lock(&running.incarnation).take() {
                    handle.abort();
                }
                self.update(name, |s| s.status = "stopped".into());
                false
            }
        }
    }

    /// Stops every component still running; answers the names that had to be abandoned.
    pub async fn stop_all(&self, deadline: Duration) -> Vec<String> {
        let names: Vec<String> = lock(&self.inner.running).keys().cloned().collect();
        let stops = names.iter().map(|name| async move {
            let stopped = self.stop(name, deadline).await;
            (!stopped).then(|| name.clone())
        });
        futures::future::join_all(stops)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Every component's state, by name.
    pub fn states(&self) -> Vec<ComponentState> {
        lock(&self.inner.states).values().cloned().collect()
    }

    /// Changes whenever a component's state changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Becomes `Some` when supervision gave up on a component.
    pub fn fatal(&self) -> watch::Receiver<Option<Fatal>> {
        self.inner.fatal.subscribe()
    }

    /// Declares a part of the node that is not a supervised component (a worker
    /// pool, the web server) beyond repair: the node must stop.
    pub fn declare_fatal(&self, part: &str, reason: &str) {
        let fatal = Fatal {
            component: part.to_string(),
            reason: reason.to_string(),
        };
        let first = self.inner.fatal.send_if_modified(|f| {
            if f.is_none() {
                *f = Some(fatal.clone());
                true
            } else {
                false
            }
        });
        if first {
            tracing::error!(
                part,
                reason,
                "node part failed beyond repair; stopping the node"
            );
        }
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut ComponentState)) {
        {
            let mut states = lock(&self.inner.states);
            let state = states
                .entry(name.to_string())
                .or_insert_with(|| ComponentState {
                    name: name.to_string(),
                    status: "starting".into(),
                    started_on: None,
                    restarts: 0,
                    last_exit_reason: String::new(),
                    last_exit_on: None,
                });
            change(state);
        }
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How an incarnation ended.
enum End {
    /// Asked to stop, and it did.
    Stopped,
    Failed(String),
}

async fn supervise(
    component: Box<dyn Component>,
    supervision: Supervision,
    stop: CancellationToken,
    incarnation_handle: Arc<Mutex<Option<AbortHandle>>>,
) {
    let name = component.name();
    let limits = supervision.inner.limits;
    let fault = supervision.inner.faults.hook(name);
    let mut backoff = Backoff::new(limits.restart_backoff, limits.restart_backoff_max);
    let mut failures: VecDeque<Instant> = VecDeque::new();
    loop {
        let progress = Arc::new(Progress::new());
        let ctx = ComponentContext::new(stop.child_token(), progress.clone());
        let run = component.run(ctx);
        let fault = fault.clone();
        let guarded = async move {
            tokio::select! {
                biased;
                _ = fault.notified() => panic!("injected fault"),
                result = run => result,
            }
        };
        let mut task = actix_rt::spawn(guarded);
        *lock(&incarnation_handle) = Some(task.abort_handle());
        let born = Instant::now();
        supervision.update(name, |s| {
            s.status = "running".into();
            s.started_on = Some(crate::clock::now());
        });
        let end =
            watch_incarnation(&mut task, &stop, &progress, component.progress_timeout()).await;
        let reason = match end {
            End::Stopped => {
                supervision.update(name, |s| s.status = "stopped".into());
                return;
            }
            End::Failed(reason) => reason,
        };
        if born.elapsed() > limits.restart_backoff_max {
            backoff.reset();
        }
        let now = Instant::now();
        failures.push_back(now);
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > limits.restart_window)
        {
            failures.pop_front();
        }
        if failures.len() > limits.max_restarts as usize {
            tracing::error!(
                component = name,
                %reason,
                restarts = failures.len() - 1,
                window_s = limits.restart_window.as_secs(),
                "component keeps failing; giving up and stopping the node"
            );
            supervision.update(name, |s| {
                s.status = "failed".into();
                s.last_exit_reason = reason.clone();
                s.last_exit_on = Some(crate::clock::now());
            });
            supervision.inner.fatal.send_replace(Some(Fatal {
                component: name.to_string(),
                reason,
            }));
            return;
        }
        let delay = backoff.next_delay();
        tracing::warn!(
            component = name,
            %reason,
            restart_in_ms = delay.as_millis() as u64,
            "component failed; rebuilding it"
        );
        supervision.update(name, |s| {
            s.status = "restarting".into();
            s.restarts += 1;
            s.last_exit_reason = reason.clone();
            s.last_exit_on = Some(crate::clock::now());
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => {
                supervision.update(name, |s| s.status = "stopped".into());
                return;
            }
        }
        tracing::info!(component = name, "component restarted");
    }
}

/// Waits for an incarnation to end, and judges how: stopped on request, or failed
/// (panic, error, unexpected end, no progress for `progress_timeout`).
async fn watch_incarnation(
    task: &mut JoinHandle<Result<(), String>>,
    stop: &CancellationToken,
    progress: &Progress,
    progress_timeout: Option<Duration>,
) -> End {
    let check_every = progress_timeout
        .map(|t| (t / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)))
        .unwrap_or(Duration::from_secs(3600));
    let mut check = tokio::time::interval(check_every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = &mut *task => {
                return match result {
                    Ok(Ok(())) if stop.is_cancelled() => End::Stopped,
                    Ok(Ok(())) => End::Failed("exited unexpectedly".into()),
                    Ok(Err(error)) => End::Failed(format!("failed: {error}")),
                    Err(join) if join.is_panic() => {
                        let payload = join.into_panic();
                        End::Failed(format!(
                            "panicked: {}",
                            crate::workers::panic_message(payload.as_ref())
                        ))
                    }
                    Err(join) => End::Failed(format!("ended: {join}")),
                };
            }
            _ = stop.cancelled() => {
                // The incarnation sees the same stop (a child token); let it finish.
                let _ = (&mut *task).await;
                return End::Stopped;
            }
            _ = check.tick() => {
                if let Some(limit) = progress_timeout
                    && progress.age() > limit
                {
                    task.abort();
                    return End::Failed(format!(
                        "no progress for {:.1}s (limit {}s)",
                        progress.age().as_secs_f64(),
                        limit.as_secs_f64()
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::ComponentFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Flaky {
        runs: Arc<AtomicUsize>,
        fail_first: usize,
    }

    impl Component for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }

        fn run(&self, ctx: ComponentContext) -> ComponentFuture {
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            let fail = n < self.fail_first;
            Box::pin(async move {
                if fail {
                    panic!("run {n} fails");
                }
                ctx.stopped().await;
                Ok(())
            })
        }
    }

    fn limits(max_restarts: u32) -> SupervisionLimits {
        SupervisionLimits {
            restart_backoff: Duration::from_millis(5),
            restart_backoff_max: Duration::from_millis(20),
            max_restarts,
            restart_window: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_panicking_component_is_rebuilt_and_its_restarts_counted() {
        actix_rt::System::new().block_on(async {
            let runs = Arc::new(AtomicUsize::new(0));
            let s = Supervision::new(limits(5), FaultHooks::default());
            s.start(Flaky {
                runs: runs.clone(),
                fail_first: 2,
            });
            for _ in 0..200 {
                if s.states()[0].status == "running" && runs.load(Ordering::SeqCst) == 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let state = &s.states()[0];
            assert_eq!(state.restarts, 2, "{state:?}");
            assert!(state.last_exit_reason.contains("run 1 fails"), "{state:?}");
            assert!(s.stop("flaky", Duration::from_secs(1)).await);
            assert_eq!(s.states()[0].status, "stopped");
            assert!(s.fatal().borrow().is_none());
        });
    }

    #[test]
    fn a_component_that_keeps_failing_is_fatal() {
        actix_rt::System::new().block_on(async {
            let s = Supervision::new(limits(2), FaultHooks::default());
            let mut fatal = s.fatal();
            s.start(Flaky {
                runs: Arc::new(AtomicUsize::new(0)),
                fail_first: usize::MAX,
            });
            let got = tokio::time::timeout(Duration::from_secs(5), fatal.wait_for(Option::is_some))
                .await
                .expect("fatal within 5 s")
                .expect("channel open")
                .clone();
            assert_eq!(got.map(|f| f.component), Some("flaky".to_string()));
            assert_eq!(s.states()[0].status, "failed");
        });
    }

    #[test]
    fn an_injected_fault_panics_the_component_once() {
        actix_rt::System::new().block_on(async {
            let runs = Arc::new(AtomicUsize::new(0));
            let s = Supervision::new(limits(5), FaultHooks::default());
            s.start(Flaky {
                runs: runs.clone(),
                fail_first: 0,
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.faults().inject("flaky").expect("known component");
            assert!(s.faults().inject("nope").is_err());
            for _ in 0..200 {
                if runs.load(Ordering::SeqCst) == 2 && s.states()[0].status == "running" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let state = &s.states()[0];
            assert_eq!(state.restarts, 1, "{state:?}");
            assert!(
                state.last_exit_reason.contains("injected fault"),
                "{state:?}"
            );
        });
    }
}
