//! The region's message queue (the seed's `miq_queue`): putting messages, claiming
//! batches of them for a server's active roles, recording their end, requeueing the
//! messages of dead servers, statistics — and the actors that do it on a node: the
//! `QueueDispatcher`, the `CompletionWriter`, `QueueMaintenance` and the LISTEN thread
//! (`QueueListener`), each a supervised component; and the `ClaimFence` that keeps a
//! node from acting on claims it may have lost.

mod claim;
mod client;
mod complete;
mod completion_writer;
mod dispatcher;
mod fence;
pub mod handlers;
mod latency;
mod maintenance;
mod maintenance_sql;
mod message;
mod node_stats;
mod put;
mod stats;
pub mod tasks;
mod wakeup;

pub use claim::{ClaimSpec, claim};
pub use client::{QueueClient, log_put};
pub use complete::{CommitHook, Completion, CompletionReport, complete_batch};
pub use completion_writer::{CompletionSink, CompletionWriter, WriterConfig};
pub use dispatcher::{Claimed, DispatcherConfig, PoolMailbox, QueueDispatcher, RoutesChanged};
pub use fence::ClaimFence;
pub use latency::{LatencyHistogram, LatencySummary};
pub use maintenance::QueueMaintenance;
pub use maintenance_sql::{Requeued, mark_timed_out, purge_finished, requeue_messages_of};
pub use message::{
    DEFAULT_MSG_TIMEOUT_S, InvalidMessage, MessageState, NewMessage, QueueMessage, check_zone_name,
    priority,
};
pub use node_stats::{NodeQueueSnapshot, NodeQueueStats};
pub use put::{
    DedupKey, MessageUpdate, NOTIFY_CHANNEL, PutOutcome, put, put_many, put_or_update,
    put_unless_exists,
};
pub use stats::{QueueCounts, fold_queue_counters, format_by_zone_and_role, queue_counts};
pub use wakeup::QueueListener;
