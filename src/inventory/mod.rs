//! The container inventory of each provider: rows for projects, nodes, pods,
//! containers, services, replicators, images and registries; parsing cluster objects
//! into them; and the persister that writes only what changed, in batches.

pub mod changes;
mod counts;
mod image_ref;
mod parse;
mod persist;
pub mod query;
mod rows;
mod table_ops;
mod views;

pub use counts::inventory_counts;
pub use image_ref::{ImageName, digest_of, parse_image};
pub use parse::{
    Collected, KnownVersions, ParseOptions, Parsed, Parser, Unchanged, label_map, parse,
    selector_matches, timestamp,
};
pub use persist::{Deleted, SaveReport, Scope, known_versions, save};
pub use rows::{Fnv, InventoryRow};
pub use views::{
    ContainerView, ImageView, NodeView, PodView, ProjectView, RegistryView, ReplicatorView,
    ServiceView,
};
