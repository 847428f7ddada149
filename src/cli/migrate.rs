//! `steward migrate`: apply pending migrations, record the region, seed the catalogue.

use anyhow::Context;

use crate::db::{Db, migrate};
use crate::settings::Settings;

pub(super) fn run(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(&quiet(&settings));
    let db = Db::connect(&settings.database)
        .with_context(|| format!("connecting to {}", settings.database.url.masked()))?;
    let report = db.with_conn(|c| migrate(c, settings.server.region))?;
    if report.applied.is_empty() {
        println!(
            "schema is current ({}, region {})",
            db.masked_url(),
            report.region
        );
    } else {
        println!(
            "applied {} migration(s) to {} (region {}): {}",
            report.applied.len(),
            db.masked_url(),
            report.region,
            report.applied.join(", ")
        );
    }
    Ok(())
}

/// Commands other than `start` log only warnings unless RUST_LOG says otherwise.
pub(super) fn quiet(settings: &Settings) -> crate::settings::LogSettings {
    let mut log = settings.log.clone();
    log.level = "warn".into();
    log
}
