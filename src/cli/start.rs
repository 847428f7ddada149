//! `steward start`: run a node until SIGINT/SIGTERM. A node that cannot start, or
//! that stops because a part of it failed beyond repair, prints one line and exits
//! with a code that says which (see [`crate::node::NodeError::exit_code`]).

use std::process::ExitCode;

use crate::settings::Settings;

pub(super) fn run(settings: Settings, demo: bool) -> ExitCode {
    crate::telemetry::init(&settings.log);
    let system = actix_rt::System::new();
    match system.block_on(crate::node::run(settings, crate::node::RunOptions { demo })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
