//! `steward status`: the whole region, like the seed's `rake evm:status_full` —
//! zones, servers (status, heartbeat age, RSS, CPU, master) and their roles, active
//! and inactive. `--json` prints the same for machines.

use super::table::Table;
use crate::region::{RegionView, load_region_view};
use crate::settings::{Settings, format_size};
use crate::workers::{WorkerView, list_workers};

pub(super) fn run(settings: Settings, json: bool) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(&settings)?;
    let (view, workers) = db
        .with_conn(|c| Ok((load_region_view(c)?, list_workers(c)?)))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the region from {}: {e} (has a node been started or `steward migrate` run?)",
                db.masked_url()
            )
        })?;
    if json {
        let mut value = serde_json::to_value(&view)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("workers".into(), serde_json::to_value(&workers)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", render(&view, &workers));
    }
    Ok(())
}

/// The text report.
pub fn render(view: &RegionView, workers: &[WorkerView]) -> String {
    let mut out = format!(
        "Region {} ({}), guid {}\n",
        view.region, view.description, view.guid
    );
    let started = view
        .servers
        .iter()
        .filter(|s| s.status == "started")
        .count();
    out.push_str(&format!(
        "{} zone(s), {} server(s), {} started\n",
        view.zones.len(),
        view.servers.len(),
        started
    ));
    for zone in &view.zones {
        out.push_str(&format!("\nZone: {}\n", zone.name));
        let servers: Vec<_> = view
            .servers
            .iter()
            .filter(|s| s.zone == zone.name)
            .collect();
        if servers.is_empty() {
            out.push_str("  (no servers)\n");
            continue;
        }
        let mut table = Table::new(&[
            "SERVER",
            "ID",
            "STATUS",
            "PID",
            "MASTER",
            "HEARTBEAT",
            "RSS",
            "HEAP",
            "CPU",
            "URL",
        ]);
        for s in &servers {
            table.row(vec![
                s.name.clone(),
                s.id.to_string(),
                s.status.clone(),
                s.pid.to_string(),
                if s.is_master { "yes" } else { "" }.to_string(),
                s.heartbeat_age_s.map(age).unwrap_or_else(|| "never".into()),
                format_size(s.memory_rss.max(0) as u64),
                format_size(s.memory_heap.max(0) as u64),
                format!("{:.1}%", s.cpu_percent),
                s.url.clone(),
            ]);
        }
        out.push_str(&table.render("  "));
        out.push_str(
            "\n  Roles (A = active, - = assigned but inactive, n/i = not implemented yet; P = primary)\n",
        );
        let mut headers = vec!["ROLE"];
        headers.extend(servers.iter().map(|s| s.name.as_str()));
        let mut roles = Table::new(&headers);
        for spec in crate::roles::CATALOGUE {
            let cells: Vec<String> = servers
                .iter()
                .map(|s| match s.roles.iter().find(|r| r.name == spec.name) {
                    Some(r) => format!(
                        "{}{}",
                        match r.status {
                            "active" => "A",
                            "not_implemented" => "n/i",
                            _ => "-",
                        },
                        if r.priority == 1 { " P" } else { "" }
                    ),
                    None => String::new(),
                })
                .collect();
            if cells.iter().all(String::is_empty) {
                continue;
            }
            let mut row = vec![spec.name.to_string()];
            row.extend(cells);
            roles.row(row);
        }
        out.push_str(&roles.render("  "));
        let mut table = Table::new(&[
            "SERVER",
            "WORKER",
            "STATUS",
            "HEARTBEAT",
            "MESSAGES",
            "RESTARTS",
            "MEMORY",
            "LAST EXIT",
        ]);
        let now = chrono::Utc::now().naive_utc();
        for w in workers
            .iter()
            .filter(|w| servers.iter().any(|s| s.id == w.server_id))
        {
            table.row(vec![
                w.server.clone(),
                format!("{}-{}", w.worker_type, w.slot),
                w.status.clone(),
                w.last_heartbeat
                    .map(|t| age((now - t).num_milliseconds() as f64 / 1000.0))
                    .unwrap_or_else(|| "-".into()),
                w.messages_done.to_string(),
                w.restarts.to_string(),
                format_size(w.memory_bytes.max(0) as u64),
                w.last_exit_reason.clone(),
            ]);
        }
        out.push_str("\n  Workers\n");
        out.push_str(&table.render("  "));
        let mut components =
            Table::new(&["SERVER", "COMPONENT", "STATUS", "RESTARTS", "LAST FAILURE"]);
        for s in &servers {
            for c in s.components.iter().map(|c| &c.state) {
                let last = match (&c.last_exit_on, c.last_exit_reason.is_empty()) {
                    (Some(at), false) => format!(
                        "{} ({})",
                        c.last_exit_reason,
                        at.format("%Y-%m-%d %H:%M:%S")
                    ),
                    _ => String::new(),
                };
                components.row(vec![
                    s.name.clone(),
                    c.name.clone(),
                    c.status.clone(),
                    c.restarts.to_string(),
                    last,
                ]);
            }
        }
        out.push_str("\n  Components\n");
        out.push_str(&components.render("  "));
    }
    out
}

fn age(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 120.0 {
        format!("{s:.0}s ago")
    } else if s < 7200.0 {
        format!("{:.0}m ago", s / 60.0)
    } else {
        format!("{:.1}h ago", s / 3600.0)
    }
}
