//! One Steward node: its data directory, its root actor (`NodeSupervisor`), its
//! heartbeat component (`Registry`),
//! and `run`, which takes it from settings to a started server and back to stopped.

mod data_dir;
mod demo;
mod error;
mod process_stats;
mod provider_pools;
mod queue_stack;
mod registry;
mod run;
mod signals;
mod supervisor;

pub use data_dir::DataDir;
pub use demo::{DEMO_PROVIDER, demo_config, start_demo};
pub use error::NodeError;
pub use process_stats::{ProcessSample, ProcessSampler, host_name};
pub use provider_pools::ProviderPools;
pub use queue_stack::{
    Identity, PoolRouting, PoolSize, QueueStack, WorkerParts, recycle_largest_worker,
};
pub use registry::{MemoryPressure, Registry, RegistryConfig};
pub use run::{BootedNode, RunOptions, boot, connect_with_retry, retry_while_unreachable, run};
pub use signals::StopSignal;
pub use supervisor::{AttachWeb, NodeSupervisor, Shutdown};
