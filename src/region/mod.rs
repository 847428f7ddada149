//! The region's records: servers and their life-cycle, the roles assigned to them,
//! and the read-only view of the whole region that `steward status`, the API and the
//! `Registry` actor share.

pub mod key;
mod role_assignment;
mod role_leases;
mod server_record;
mod view;

pub use key::{RegionKeyError, ensure_region_key};
pub use role_assignment::{assign_roles, deactivate_roles};
pub use role_leases::sync_roles;
pub use server_record::{
    HeartbeatOutcome, HeartbeatPolicy, ProcessFigures, ServerIdentity, ServerStatus, heartbeat,
    register, set_status, set_url,
};
pub use view::{RegionView, RoleAssignmentView, ServerView, ZoneView, load_region_view};
