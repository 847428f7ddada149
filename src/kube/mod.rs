//! Talking to Kubernetes and OpenShift clusters: a small client for discovery, paged
//! lists and watches (hand-written over reqwest: we need a handful of kinds and exact
//! control of paging, `410 Gone` and bookmarks), kubeconfig reading, quantities, and
//! the object shapes the inventory reads.

mod client;
mod error;
mod kubeconfig;
pub mod quantity;
pub mod types;
mod watch;

pub use client::{Connection, KubeClient, WATCH_TIMEOUT_S};
pub use error::{KubeError, from_transport};
pub use kubeconfig::{KubeconfigTarget, parse_kubeconfig, read_kubeconfig};
pub use watch::{WatchEvent, WatchStream};
