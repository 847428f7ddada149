//! `steward keys list|add|rotate|generate`: the region's credential keys. Rotation is
//! online: nodes keep running; one that meets a value sealed with a key it has not
//! loaded re-reads its key file, and its next credential write seals with the new key.
//!
//! On one host, `steward keys rotate` is all it takes (it adds a key to the key file the
//! nodes share). With nodes on several hosts, first `steward keys add` and copy the key
//! file to every host, then `steward keys rotate --key-id ID`.

use anyhow::Context;
use serde::Serialize;

use super::table::Table;
use crate::crypto::{KeyRing, generate_key_text};
use crate::region::key::{ResealReport, region_keys, rotate_to, values_per_key};
use crate::settings::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// The region's keys (current and retired), this machine's keys, and how many
    /// stored credentials each key seals.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a new key to the key file without using it yet; prints its id. Copy the
    /// file to every host of the region, then `steward keys rotate --key-id ID`.
    Add,
    /// Make a key the region's current one and re-seal every stored credential with
    /// it, online. Without --key-id a new key is added to the key file first.
    Rotate {
        /// A key of the key file (or of STEWARD_CREDENTIAL_KEY) to make current.
        #[arg(long)]
        key_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print a new random key (base64), e.g. for STEWARD_CREDENTIAL_KEY.
    Generate,
}

#[derive(Serialize)]
struct Listing {
    region: Vec<crate::region::key::RegionKey>,
    local: Vec<String>,
    source: String,
    sealed_values: Vec<(String, usize)>,
}

#[derive(Serialize)]
struct Rotated {
    key_id: String,
    added_to_key_file: bool,
    #[serde(flatten)]
    report: ResealReport,
}

pub(super) fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    if let KeysCommand::Generate = command {
        println!("{}", *generate_key_text()?);
        return Ok(());
    }
    let keys = KeyRing::load_existing(&settings.server.key_file)?;
    let db = super::region_db::open_existing(&settings)?;
    match command {
        KeysCommand::Generate => {}
        KeysCommand::List { json } => {
            let region = db.with_conn(region_keys)?;
            let counts = db.with_conn(values_per_key)?;
            let listing = Listing {
                region,
                local: keys.ids(),
                source: keys.source().display().to_string(),
                sealed_values: counts,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&listing)?);
            } else {
                print_listing(&listing);
            }
        }
        KeysCommand::Add => {
            let id = keys.add_new_key()?;
            println!(
                "added key {id} to {}; copy this file to every host of the region, then run `steward keys rotate --key-id {id}`",
                keys.source().display()
            );
        }
        KeysCommand::Rotate { key_id, json } => {
            let (key_id, added) = match key_id {
                Some(id) => (id, false),
                None => (
                    keys.add_new_key().with_context(
                        || "adding a new key (give --key-id to use one the ring already holds)",
                    )?,
                    true,
                ),
            };
            let report = db.with_conn(|c| Ok(rotate_to(c, &keys, &key_id)))??;
            let rotated = Rotated {
                key_id,
                added_to_key_file: added,
                report,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&rotated)?);
            } else {
                println!(
                    "key {} is the region's current key{}; {} credential(s) re-sealed, {} in all",
                    rotated.key_id,
                    if added {
                        " (added to the key file)"
                    } else {
                        ""
                    },
                    rotated.report.resealed,
                    rotated.report.current
                );
                for problem in &rotated.report.unreadable {
                    println!("not re-sealed: {problem}");
                }
            }
            if !rotated.report.unreadable.is_empty() {
                anyhow::bail!(
                    "{} credential(s) could not be opened and keep their old key",
                    rotated.report.unreadable.len()
                );
            }
        }
    }
    Ok(())
}

fn print_listing(listing: &Listing) {
    let mut table = Table::new(&["KEY", "REGION", "SINCE", "HERE", "CREDENTIALS"]);
    let count_of = |id: &str| {
        listing
            .sealed_values
            .iter()
            .find(|(k, _)| k == id)
            .map_or(0, |(_, n)| *n)
    };
    let mut ids: Vec<String> = listing.region.iter().map(|k| k.key_id.clone()).collect();
    for id in &listing.local {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    for id in &ids {
        let record = listing.region.iter().find(|k| &k.key_id == id);
        let state = match record {
            Some(k) if k.current => "current".to_string(),
            Some(k) => format!(
                "retired {}",
                k.retired_on.map(|t| t.to_string()).unwrap_or_default()
            ),
            None => "-".to_string(),
        };
        table.row(vec![
            id.clone(),
            state,
            record.map(|k| k.created_on.to_string()).unwrap_or_default(),
            if listing.local.contains(id) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
            count_of(id).to_string(),
        ]);
    }
    let legacy = count_of("v2");
    if legacy > 0 {
        table.row(vec![
            "(v2, no key id)".into(),
            "-".into(),
            String::new(),
            "-".into(),
            legacy.to_string(),
        ]);
    }
    print!("{}", table.render(""));
    println!("keys here come from {}", listing.source);
}
