//! How CLI commands other than `start` and `migrate` reach the region database: they
//! never create one. An SQLite file that does not exist is a clear error naming the
//! file and where settings come from — not a new, empty region that then answers
//! "no servers".

use anyhow::Context;

use super::migrate::quiet;
use crate::db::Db;
use crate::settings::{DatabaseUrl, Settings, default_settings_files};

/// Opens the existing region database of `settings` (and quiets the log).
pub fn open_existing(settings: &Settings) -> anyhow::Result<Db> {
    crate::telemetry::init(&quiet(settings));
    if let DatabaseUrl::Sqlite(path) = &settings.database.url
        && !path.exists()
    {
        let defaults: Vec<String> = default_settings_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        anyhow::bail!(
            "no region database at {}: start a node (`steward start`) or run `steward migrate` \
             first, or say where the region is: --settings FILE, STEWARD_SETTINGS, a settings \
             file at {} , or STEWARD__DATABASE__URL / STEWARD__SERVER__DATA_DIR",
            path.display(),
            defaults.join(" or ")
        );
    }
    Db::connect(&settings.database)
        .with_context(|| format!("connecting to {}", settings.database.url.masked()))
}
