//! Supervision of a node's long-running components — the heartbeat (`Registry`), the
//! `QueueDispatcher`, the `CompletionWriter`, the LISTEN thread, queue upkeep, the
//! metrics coordinator, the `RefreshManager` — the way worker pools supervise their
//! workers (quickwit's factory style):
//!
//! - a component is a [`Component`]: a factory whose [`Component::run`] builds a fresh
//!   incarnation and runs it until asked to stop; state that must outlive an
//!   incarnation (a channel's receiving end, the routes it publishes) lives in the
//!   component value, so senders never notice a rebuild;
//! - a panic, an error or an unexpected end is caught by [`Supervision`], recorded
//!   (restarts and the reason, shown by `steward status`, `/api/servers/:id` and the
//!   log) and followed by a rebuild after a capped exponential backoff;
//! - a component that records no progress for its `progress_timeout` is abandoned and
//!   rebuilt (liveness by progress, not by "is the task alive");
//! - one restarted more than `supervision.component_max_restarts` times within
//!   `component_restart_window` is *fatal*: the node stops with a non-zero exit, so
//!   that systemd or Kubernetes restart it whole, rather than run half-alive.
//!
//! Lower layers only: this module knows nothing of the queue, refresh or metrics; they
//! implement [`Component`] and the node starts them here.

mod component;
mod faults;
mod record;
mod supervisor;

pub use component::{Component, ComponentContext, ComponentFuture, Progress};
pub use faults::FaultHooks;
pub use record::{ComponentRow, ComponentState, components_of, sync_component_rows};
pub use supervisor::{Fatal, Supervision, SupervisionLimits};
