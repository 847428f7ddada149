//! `steward metrics backfill|health|purge`.

use anyhow::Context;
use clap::Subcommand;

use crate::metrics::coordinator::{CaptureScope, queue_captures};
use crate::metrics::health::health;
use crate::metrics::purge::purge;
use crate::metrics::targets::{CaptureType, live_ids};
use crate::providers::find_provider;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Recapture a time range of a provider's objects (the seed's gap collection).
    Backfill {
        /// Provider id.
        #[arg(long)]
        provider: String,
        /// Start: RFC 3339 (`2026-11-20T08:00:00Z`) or unix seconds.
        #[arg(long)]
        from: String,
        /// End: RFC 3339 or unix seconds (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Only this type: container_node, container_group or container.
        #[arg(long = "type")]
        resource_type: Option<String>,
    },
    /// The capture backlog, capture ages per type, rows written.
    Health {
        #[arg(long)]
        json: bool,
    },
    /// Apply retention now (realtime, hourly and daily samples past their keep time).
    Purge,
}

fn parse_time(value: &str, flag: &str) -> anyhow::Result<i64> {
    Ok(crate::json::parse_time_or_unix(value, flag)
        .map_err(anyhow::Error::msg)?
        .and_utc()
        .timestamp())
}

fn parse_type(value: &str) -> anyhow::Result<CaptureType> {
    CaptureType::ALL
        .into_iter()
        .find(|t| t.name() == value)
        .with_context(|| {
            format!("--type must be container_node, container_group or container, not `{value}`")
        })
}

pub(super) fn run(settings: Settings, command: MetricsCommand) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(&settings)?;
    match command {
        MetricsCommand::Backfill {
            provider,
            from,
            to,
            resource_type,
        } => {
            let id: i64 = provider
                .parse()
                .with_context(|| format!("--provider must be a provider id, not `{provider}`"))?;
            let from = parse_time(&from, "--from")?;
            let to = match to {
                Some(t) => parse_time(&t, "--to")?,
                None => chrono::Utc::now().timestamp(),
            };
            anyhow::ensure!(from < to, "--from must be before --to");
            let kinds = match resource_type {
                Some(t) => vec![parse_type(&t)?],
                None => CaptureType::ALL.to_vec(),
            };
            let batch = settings.metrics.capture_batch as usize;
            let queued = db.with_conn(|c| {
                let (p, zone) = find_provider(c, id)?;
                if p.prometheus_url.trim().is_empty() {
                    return Ok(Err(format!("provider {} has no prometheus_url", p.name)));
                }
                let now = chrono::Utc::now().naive_utc();
                let mut n = 0;
                for kind in &kinds {
                    let ids = live_ids(c, id, *kind, chrono::NaiveDateTime::default())?;
                    let scope = CaptureScope {
                        zone: &zone,
                        provider: id,
                        kind: *kind,
                    };
                    n += queue_captures(c, scope, &ids, batch, Some((from, to)), now)?;
                }
                Ok(Ok(n))
            })?;
            let queued = queued.map_err(anyhow::Error::msg)?;
            println!("queued {queued} capture messages for provider {id}");
            Ok(())
        }
        MetricsCommand::Health { json } => {
            let h = db.with_conn(|c| health(c, chrono::Utc::now().naive_utc()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&h)?);
                return Ok(());
            }
            println!(
                "captures queued: {} (oldest {:?}, newest {:?}); rollups queued: {}",
                h.backlog.captures_queued,
                h.backlog.oldest,
                h.backlog.newest,
                h.backlog.rollups_queued
            );
            for t in &h.types {
                println!(
                    "{:<16} objects {:>7}  never captured {:>6}  queued {:>6}  oldest capture {:>8}  rows {}",
                    t.resource_type,
                    t.objects,
                    t.never_captured,
                    t.queued,
                    t.oldest_capture_age_s
                        .map_or("-".into(), |a| format!("{a:.0}s")),
                    t.rows_written
                );
            }
            Ok(())
        }
        MetricsCommand::Purge => {
            let report =
                db.with_conn(|c| purge(c, &settings.metrics, chrono::Utc::now().naive_utc()))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}
