//! `steward settings check`: the settings are valid (or this command would not have
//! been reached); print what the node would run with.

use crate::settings::{Settings, render_masked};

pub(super) fn run(settings: &Settings) -> anyhow::Result<()> {
    print!("{}", render_masked(settings));
    Ok(())
}
