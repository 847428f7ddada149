//! `steward start`: run a node until SIGINT/SIGTERM.

use crate::settings::Settings;

pub(super) fn run(settings: Settings, demo: bool) -> anyhow::Result<()> {
    crate::telemetry::init(&settings.log);
    let system = actix_rt::System::new();
    system.block_on(crate::node::run(settings, crate::node::RunOptions { demo }))?;
    Ok(())
}
