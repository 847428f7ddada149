//! Who may use a region, and what they may do: users with argon2id passwords, API
//! tokens, failed-login lockout, the audit trail, and ManageIQ's RBAC model
//! (features → user roles → groups in tenants → users).

pub mod audit;
pub mod bootstrap;
pub mod directory;
pub mod features;
pub mod identity;
pub mod login;
pub mod rbac;
pub mod secret;
pub mod tokens;

pub use features::Feature;
pub use identity::Identity;
