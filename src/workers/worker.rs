//! The `Worker` actor: one worker incarnation, alone on its own arbiter thread. It
//! beats, runs its body (for queue workers, the message loop), turns a panic into an
//! exit reason, and reports its exit to its pool — which rebuilds a fresh one.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::FutureExt;
use futures::future::LocalBoxFuture;

use super::memory;
use super::probe::WorkerProbe;

/// Why a worker's body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerExit {
    /// Asked to stop (uptime, memory, node stopping): after its current message.
    Requested(String),
    /// A panic, with its message.
    Panicked(String),
    /// The body gave up (a fatal handler error, a lost resource).
    Errored(String),
    /// A message ran past its `msg_timeout`; the message is `timeout`.
    MessageTimedOut { id: i64, timeout: Duration },
    /// Its mailbox was closed (the node is stopping).
    MailboxClosed,
}

impl WorkerExit {
    /// A clean exit restarts at once; a failure restarts after a backoff.
    pub fn is_failure(&self) -> bool {
        !matches!(self, WorkerExit::Requested(_) | WorkerExit::MailboxClosed)
    }

    pub fn describe(&self) -> String {
        match self {
            WorkerExit::Requested(reason) => reason.clone(),
            WorkerExit::Panicked(m) => format!("panicked: {m}"),
            WorkerExit::Errored(m) => format!("errored: {m}"),
            WorkerExit::MessageTimedOut { id, timeout } => format!(
                "message {id} exceeded its timeout of {}s",
                timeout.as_secs_f64()
            ),
            WorkerExit::MailboxClosed => "mailbox closed".into(),
        }
    }
}

/// What a worker runs; built on the worker's own thread (it need not be `Send`).
pub type WorkerBody =
    Box<dyn FnOnce(Arc<WorkerProbe>) -> LocalBoxFuture<'static, WorkerExit> + Send>;

/// Sent to the pool when a worker's body has ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WorkerExited {
    pub slot: usize,
    pub incarnation: u64,
    pub exit: WorkerExit,
}

/// One worker incarnation.
pub struct Worker {
    probe: Arc<WorkerProbe>,
    body: Option<WorkerBody>,
    pool: Recipient<WorkerExited>,
    slot: usize,
    incarnation: u64,
}

impl Worker {
    pub fn new(
        probe: Arc<WorkerProbe>,
        body: WorkerBody,
        pool: Recipient<WorkerExited>,
        slot: usize,
        incarnation: u64,
    ) -> Self {
        Self {
            probe,
            body: Some(body),
            pool,
            slot,
            incarnation,
        }
    }
}

/// How often a worker beats. Liveness checks allow many beats of slack.
const BEAT: Duration = Duration::from_millis(250);

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        memory::set_thread_slot(self.probe.slot);
        self.probe.beat();
        ctx.run_interval(BEAT, |act, _| act.probe.beat());
        let Some(body) = self.body.take() else {
            ctx.stop();
            return;
        };
        let probe = self.probe.clone();
        let run = async move {
            match AssertUnwindSafe(body(probe)).catch_unwind().await {
                Ok(exit) => exit,
                Err(panic) => WorkerExit::Panicked(panic_message(panic.as_ref())),
            }
        };
        ctx.spawn(run.into_actor(self).map(|exit, act, ctx| {
            act.pool.do_send(WorkerExited {
                slot: act.slot,
                incarnation: act.incarnation,
                exit,
            });
            ctx.stop();
        }));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // The worker owns its arbiter: end the thread with it.
        actix_rt::Arbiter::current().stop();
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}
