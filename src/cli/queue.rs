//! `steward queue stats` and `steward queue put`.

use anyhow::Context;

use super::table::Table;
use crate::queue::{MessageState, NewMessage, QueueCounts, log_put, put, queue_counts};
use crate::settings::{Settings, parse_duration};

/// Options of `steward queue put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// The command, `Class.method`.
    pub command: String,
    /// Arguments, as a JSON array or object.
    #[arg(long, default_value = "[]")]
    pub args: String,
    /// 0 (most urgent) to 200; default 100.
    #[arg(long)]
    pub priority: Option<i32>,
    /// Only servers of this zone may run it.
    #[arg(long)]
    pub zone: Option<String>,
    /// Only a server with this role active may run it.
    #[arg(long)]
    pub role: Option<String>,
    /// Queue name (worker type); default `generic`.
    #[arg(long)]
    pub queue: Option<String>,
    /// Only the server with this guid may run it.
    #[arg(long)]
    pub server: Option<String>,
    /// Messages with the same task id run one at a time.
    #[arg(long)]
    pub task: Option<String>,
    /// Not before this long from now (e.g. `30s`).
    #[arg(long, value_name = "DURATION")]
    pub deliver_in: Option<String>,
    /// How long the handler may run (e.g. `10m`); default 600s.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

pub(super) fn stats(settings: Settings, json: bool) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(&settings)?;
    let counts = db
        .with_conn(queue_counts)
        .context("reading the queue (has a node been started or `steward migrate` run?)")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&counts)?);
    } else {
        print!("{}", render(&counts));
    }
    Ok(())
}

fn render(counts: &QueueCounts) -> String {
    let mut out = String::new();
    let totals: Vec<String> = MessageState::ALL
        .iter()
        .map(|s| {
            format!(
                "{}={}",
                s.as_str(),
                counts.totals.get(s.as_str()).copied().unwrap_or(0)
            )
        })
        .collect();
    out.push_str(&format!("Messages: {}\n", totals.join("  ")));
    if let Some(oldest) = counts.oldest_ready {
        out.push_str(&format!(
            "Oldest ready message put at {}\n",
            crate::json::format_utc(&oldest)
        ));
    }
    let mut table = Table::new(&["STATE", "ZONE", "ROLE", "COUNT"]);
    for (state, zones) in &counts.by_state {
        for (zone, roles) in zones {
            for (role, n) in roles {
                let any = |s: &str| {
                    if s.is_empty() {
                        "(any)".to_string()
                    } else {
                        s.to_string()
                    }
                };
                table.row(vec![state.clone(), any(zone), any(role), n.to_string()]);
            }
        }
    }
    out.push('\n');
    out.push_str(&table.render(""));
    out
}

pub(super) fn put_message(settings: Settings, a: PutArgs) -> anyhow::Result<()> {
    let registry = crate::queue::handlers::for_node(
        &settings,
        &crate::supervision::FaultHooks::default(),
        None,
    );
    if !registry.knows(&a.command) {
        anyhow::bail!(
            "unknown command `{}` (known: {})",
            a.command,
            registry.commands().join(", ")
        );
    }
    let args: serde_json::Value =
        serde_json::from_str(&a.args).context("--args is not valid JSON")?;
    crate::json::check_input(&args).map_err(|e| anyhow::anyhow!("--args: {e}"))?;
    let mut m = NewMessage::new(&a.command)?.with_args(&args)?;
    if let Some(p) = a.priority {
        m = m.with_priority(p)?;
    }
    if let Some(r) = &a.role {
        m = m.with_role(r)?;
    }
    if let Some(z) = &a.zone {
        m = m.with_zone(z);
    }
    if let Some(q) = &a.queue {
        m = m.with_queue(q);
    }
    if let Some(s) = &a.server {
        m = m.with_server(s);
    }
    if let Some(t) = &a.task {
        m = m.with_task(t);
    }
    if let Some(d) = &a.deliver_in {
        let d = parse_duration(d).map_err(|e| anyhow::anyhow!("--deliver-in: {e}"))?;
        m = m.deliver_on(crate::clock::now() + chrono::Duration::from_std(d)?);
    }
    if let Some(t) = &a.timeout {
        let t = parse_duration(t).map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
        m = m.with_timeout_s(i32::try_from(t.as_secs()).unwrap_or(i32::MAX))?;
    }
    m.validate(settings.queue.max_args_bytes)?;
    let db = super::region_db::open_existing(&settings)?;
    let id = db.with_conn(|c| put(c, &m))?;
    if settings.queue.log_messages {
        log_put(id, &m, "put");
    }
    println!("{id}");
    Ok(())
}
