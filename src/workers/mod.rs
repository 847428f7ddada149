//! Supervised workers: pools of worker actors, each on its own thread, rebuilt from a
//! factory when they panic, error out, stop making progress, overrun a message's
//! timeout or cross their memory threshold; restarted gracefully at their uptime
//! limit. Queue workers (`generic`, `priority`, and the per-role types later issues
//! add) are one kind of worker body; other kinds plug into the same pool.

pub mod memory;
mod pool;
mod pool_set;
mod probe;
mod queue_worker;
mod record;
mod types;
mod worker;

pub use pool::{GetPoolState, PoolSpec, RecycleLargest, StopPool, WorkerFactory, WorkerPool};
pub use pool_set::{PoolSet, RegisteredPool};
pub use probe::{CurrentMessage, WorkerProbe, WorkerStatus};
pub use queue_worker::QueueWorkerKit;
pub use record::{WorkerRow, WorkerView, delete_worker_rows_of, list_workers, sync_worker_rows};
pub use types::{
    METRICS_COLLECTOR_QUEUE, METRICS_PROCESSOR_QUEUE, QueueWorkerType, queue_worker_types,
};
pub use worker::{Worker, WorkerBody, WorkerExit, WorkerExited, panic_message};
