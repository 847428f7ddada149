//! `steward settings check`: the settings are valid (or this command would not have
//! been reached), policies included; print what the node would run with.

use crate::settings::{Settings, render_masked};

pub(super) fn run(settings: &Settings) -> anyhow::Result<()> {
    print!("{}", render_masked(settings));
    let set = &settings.policies;
    println!(
        "# event policies: {} from {}",
        set.policies.len(),
        if set.files.is_empty() {
            "no file".to_string()
        } else {
            set.files.join(", ")
        }
    );
    for p in &set.policies {
        println!(
            "#   {}{} — {} ({})",
            p.name,
            if p.enabled { "" } else { " (disabled)" },
            p.events.join(","),
            p.source
        );
    }
    Ok(())
}
