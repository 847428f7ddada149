//! ManageIQ's collection query conventions, served in SQL: `filter[]`, `attributes`,
//! `sort_by`/`sort_order`/`sort_options`, `offset`/`limit`, subcollections, and the
//! caller's RBAC visibility — one statement to count, one to read a page, whatever
//! the page size and the caller's filters.

pub mod catalog;
pub mod exec;
pub mod filter;
pub mod params;
pub mod sql;
pub mod tag_path;

pub use catalog::{COLLECTIONS, Collection, Kind, collection};
pub use sql::{QueryError, Visibility};
