//! Server roles: the catalogue (what roles exist, their scope and how many may be
//! active at once) and, in later modules, which servers hold them.

mod catalogue;

pub use catalogue::{CATALOGUE, RoleScope, ServerRoleSpec, find, is_implemented, is_known, names};
