//! Talking to Kubernetes and OpenShift clusters, through the ecosystem's client:
//! [`kube`] (kubeconfig, every authentication kubectl accepts, TLS, paged lists, the
//! `kube_runtime::watcher` list+watch state machine) and [`k8s_openapi`]'s typed objects.
//!
//! What is ours is only what the crates lack:
//!
//! - [`access`] — how a provider is reached ([`ClusterAccess`]), the checks a
//!   kubeconfig registered as *content* must pass (exec commands on the allow-list,
//!   file references only inside allowed directories, `http://` only when asked), and
//!   building the [`kube::Client`] from it;
//! - [`error`] — what went wrong, in Steward's words: never a remote body;
//! - [`list`] — a paged list of every object of a kind (limit/continue);
//! - [`openshift`] — OpenShift's `image.openshift.io/v1` images, which `k8s-openapi`
//!   does not type;
//! - [`quantity`] — resource quantity arithmetic for the inventory.

pub mod access;
pub mod error;
pub mod list;
pub mod openshift;
pub mod quantity;

pub use access::{
    ClusterAccess, ClusterAuth, KubeconfigSummary, check_api_url, connect, inspect_kubeconfig,
    parse_ca_pem,
};
pub use error::{KubeError, from_kube, from_watcher};
pub use list::list_all;
