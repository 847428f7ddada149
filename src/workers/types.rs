//! Queue worker types: which queue each serves, the least urgent priority it takes,
//! and the role that must be active for it to claim. `generic` and `priority` share
//! the `generic` queue; priority workers only take messages of priority ≤ 20, so
//! urgent work never waits behind a long tail of normal work. Later issues add their
//! types here (refresh, metrics collector and processor, event handler, …).

use crate::queue::priority;

/// The queue metrics captures go to (role `ems_metrics_collector`).
pub const METRICS_COLLECTOR_QUEUE: &str = "ems_metrics_collector";
/// The queue metrics rollups go to (role `ems_metrics_processor`).
pub const METRICS_PROCESSOR_QUEUE: &str = "ems_metrics_processor";

/// How a worker type consumes the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueWorkerType {
    pub name: &'static str,
    pub queue_names: Vec<String>,
    pub max_priority: i32,
    pub required_role: Option<&'static str>,
}

/// The queue worker types a node runs, in the order the dispatcher serves them
/// (most urgent first).
pub fn queue_worker_types() -> Vec<QueueWorkerType> {
    vec![
        QueueWorkerType {
            name: "priority",
            queue_names: vec!["generic".into()],
            max_priority: priority::HIGH,
            required_role: None,
        },
        QueueWorkerType {
            name: "metrics_collector",
            queue_names: vec![METRICS_COLLECTOR_QUEUE.into()],
            max_priority: priority::MIN,
            required_role: Some("ems_metrics_collector"),
        },
        QueueWorkerType {
            name: "metrics_processor",
            queue_names: vec![METRICS_PROCESSOR_QUEUE.into()],
            max_priority: priority::MIN,
            required_role: Some("ems_metrics_processor"),
        },
        QueueWorkerType {
            name: "generic",
            queue_names: vec!["generic".into()],
            max_priority: priority::MIN,
            required_role: None,
        },
    ]
}
