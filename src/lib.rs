//! Steward: a manager of managers, re-creating the CloudForms/ManageIQ architecture
//! (regions, zones, servers, roles, a database-backed message queue, supervised
//! workers) in one small Rust binary.
//!
//! # Layout
//!
//! - [`cli`] — the `steward` command line; `main.rs` only calls [`cli::main`].
//! - [`settings`] — layered YAML settings, validated once into typed values.
//! - [`db`] — the region database over PostgreSQL or SQLite: pool, migrations,
//!   region-encoded ids, backend-specific SQL in a few named places.
//! - [`roles`] — the server-role catalogue.
//! - [`region`] — servers, role assignments and the region view.
//! - [`node`] — one node's life: data directory, the `NodeSupervisor` and `Registry`
//!   actors, start-up and graceful stop.
//! - [`queue`] — the region's message queue: put, claim, complete, requeue, stats,
//!   and the node's `QueueDispatcher`, `CompletionWriter` and `QueueMaintenance`.
//! - [`workers`] — supervised worker pools (`WorkerPool`, `Worker`) and the
//!   accounting allocator that attributes memory to workers.
//! - [`crypto`] — credentials encrypted at rest (`v2:{…}`, AES-256-GCM).
//! - [`kube`] — a small Kubernetes client: paged lists, watches, kubeconfig.
//! - [`providers`] — provider records, connections, refresh history, queueing refreshes.
//! - [`inventory`] — the container inventory: rows, parsing, the diffing persister.
//! - [`refresh`] — refresh workers per provider (full refreshes and watches) and the
//!   `RefreshManager` that runs them where `ems_inventory` is active.
//! - [`metrics`] — capacity & utilization: coordinator, collectors, rollups, retention.
//! - [`simulator`] — `steward simulate`: a Kubernetes-API-compatible cluster at any size.
//! - [`web`] — actix-web: `/ping` and the REST API.
//! - [`bench`] — `steward bench …` scenarios.
//! - [`supervision`] — supervised node components (factory rebuilds, backoff, restart
//!   limits, fault hooks) and their `server_components` rows.
//! - [`telemetry`], [`tls`], [`backoff`], [`json`], [`clock`], [`text`] — cross-cutting helpers.

pub mod alerts;
pub mod api_query;
pub mod auth;
pub mod backoff;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod db;
pub mod events;
pub mod inventory;
pub mod json;
pub mod kube;
pub mod live;
pub mod metrics;
pub mod node;
pub mod notify;
pub mod policy;
pub mod providers;
pub mod queue;
pub mod refresh;
pub mod region;
pub mod roles;
pub mod settings;
pub mod simulator;
pub mod supervision;
pub mod tags;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod web;
pub mod workers;
