//! ManageIQ's managed tags: categories, tags, taggings of inventory objects (by hand
//! through the API, or from Kubernetes labels by mapping rules), `by_tag` filters and
//! the tag filters of RBAC groups.

pub mod labels;
pub mod store;

pub use crate::api_query::tag_path::{MAX_NAME_CHARS, TagRef, check_name, parse_tag_path};
