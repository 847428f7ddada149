//! Inventory refresh (role `ems_inventory`): a refresh worker per provider of the
//! zone, full refreshes from the queue, watches in between, timings recorded.

mod full;
mod kinds;
mod lazy;
mod manager;
mod targets;
mod worker;

pub use full::{FullRefresh, RefreshError, full_refresh};
pub use kinds::{Change, Kind, WatchMsg};
pub use manager::{RefreshHandle, RefreshManager};
pub use targets::{
    MAX_TARGETS, REFRESH_TARGETS_METHOD, REFRESHABLE, Target, TargetsArgs, queue_refresh_targets,
};
pub use worker::RefreshKit;
