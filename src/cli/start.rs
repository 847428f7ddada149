//! `steward start`: run a node until SIGINT/SIGTERM.

use crate::settings::Settings;

pub(super) fn run(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(&settings.log);
    let system = actix_rt::System::new();
    system.block_on(crate::node::run(settings))?;
    Ok(())
}
