//! `steward provider add|list|show|refresh|remove`: providers from the command line,
//! straight against the region database (a running node picks changes up within
//! seconds).

use std::path::PathBuf;

use anyhow::Context;

use super::table::Table;
use crate::crypto::KeyRing;
use crate::inventory::inventory_counts;
use crate::providers::{
    ProviderEdit, ProviderInput, ProviderView, delete_provider, find_provider, insert_provider,
    list_providers, list_refreshes, queue_refresh, update_provider,
};
use crate::queue::QueueClient;
use crate::settings::{Settings, parse_duration};

#[derive(Debug, clap::Subcommand)]
pub enum ProviderCommand {
    /// Add a Kubernetes or OpenShift cluster. It is refreshed at once; its status
    /// says what is wrong if it cannot be reached.
    Add(Box<AddArgs>),
    /// List providers with their status.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One provider: settings, status, inventory counts, recent refreshes.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Change how a provider is reached (URL, token, CA, Prometheus, refresh period)
    /// without losing its inventory; a full refresh is queued.
    Update(Box<UpdateArgs>),
    /// Queue a full refresh (joins one already waiting).
    Refresh { id: i64 },
    /// Remove a provider and its whole inventory.
    Remove {
        id: i64,
        /// Confirm: the provider's inventory and history are deleted with it.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    pub id: i64,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub api_url: Option<String>,
    /// A new bearer token (prefer --token-file or STEWARD_PROVIDER_TOKEN).
    #[arg(long, env = "STEWARD_PROVIDER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the new bearer token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// A new kubeconfig file: its content is sent and stored encrypted.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Verify the API server's TLS certificate (true) or not (false).
    #[arg(long)]
    pub verify_tls: Option<bool>,
    /// PEM file of the CA that signed the API server's certificate.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Allow plain http:// API and Prometheus URLs (true) or not (false).
    #[arg(long)]
    pub allow_insecure_http: Option<bool>,
    #[arg(long)]
    pub prometheus_url: Option<String>,
    /// none, token (with --prometheus-token-file) or same_as_provider.
    #[arg(long)]
    pub prometheus_auth: Option<String>,
    /// File holding Prometheus' own bearer token.
    #[arg(long)]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM file of Prometheus' CA (default: the provider's CA).
    #[arg(long)]
    pub prometheus_ca_cert: Option<PathBuf>,
    /// Full refresh period (e.g. 15m; 0s = watches only).
    #[arg(long, value_name = "DURATION")]
    pub refresh_interval: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[arg(long)]
    pub name: String,
    /// kubernetes or openshift.
    #[arg(long = "type", default_value = "kubernetes")]
    pub provider_type: String,
    /// The API server, e.g. https://api.cluster:6443 (not needed with --kubeconfig).
    #[arg(long)]
    pub api_url: Option<String>,
    /// Bearer token (prefer --token-file or STEWARD_PROVIDER_TOKEN: command lines are visible).
    #[arg(long, env = "STEWARD_PROVIDER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the bearer token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// A kubeconfig file: its content is sent and stored encrypted (server,
    /// credentials and CA of --context, default its current context).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// Use the node's in-cluster service account (Steward running as a pod).
    #[arg(long)]
    pub in_cluster: bool,
    #[arg(long, default_value = "default")]
    pub zone: String,
    /// Do not verify the API server's TLS certificate.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// PEM file of the CA that signed the API server's certificate.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Allow plain http:// API and Prometheus URLs (test clusters only).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Prometheus endpoint for capacity and utilization metrics.
    #[arg(long)]
    pub prometheus_url: Option<String>,
    /// none (default), token (with --prometheus-token-file) or same_as_provider.
    #[arg(long)]
    pub prometheus_auth: Option<String>,
    /// File holding Prometheus' own bearer token.
    #[arg(long)]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM file of Prometheus' CA (default: the provider's CA).
    #[arg(long)]
    pub prometheus_ca_cert: Option<PathBuf>,
    /// Full refresh period for this provider (e.g. 15m; 0s = watches only).
    #[arg(long, value_name = "DURATION")]
    pub refresh_interval: Option<String>,
    /// Leave container images out of the inventory.
    #[arg(long)]
    pub no_images: bool,
    /// Store only images that pods use.
    #[arg(long)]
    pub no_unused_images: bool,
    #[arg(long)]
    pub json: bool,
}

/// Runs an async step (queueing) from the CLI.
fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f))
}

pub(super) fn run(settings: Settings, command: ProviderCommand) -> anyhow::Result<()> {
    match command {
        ProviderCommand::Add(args) => add(&settings, *args),
        ProviderCommand::List { json } => list(&settings, json),
        ProviderCommand::Show { id, json } => show(&settings, id, json),
        ProviderCommand::Refresh { id } => refresh(&settings, id),
        ProviderCommand::Remove { id, yes } => remove(&settings, id, yes),
        ProviderCommand::Update(a) => update(&settings, *a),
    }
}

/// The token from `--token` or `--token-file`.
fn token_of(token: &Option<String>, file: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    Ok(match (token, file) {
        (Some(_), Some(_)) => anyhow::bail!("give --token or --token-file, not both"),
        (Some(t), None) => Some(t.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading --token-file {}", f.display()))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    })
}

/// The PEM of `--ca-cert FILE`.
fn ca_cert_of(file: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    file.as_ref()
        .map(|f| {
            std::fs::read_to_string(f).with_context(|| format!("reading --ca-cert {}", f.display()))
        })
        .transpose()
}

/// The content of `--kubeconfig FILE` (bounded: a kubeconfig is small).
fn kubeconfig_of(file: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    let Some(f) = file else {
        return Ok(None);
    };
    let meta =
        std::fs::metadata(f).with_context(|| format!("reading --kubeconfig {}", f.display()))?;
    if meta.len() > crate::providers::MAX_KUBECONFIG as u64 {
        anyhow::bail!(
            "--kubeconfig {}: {} bytes; at most {} are allowed",
            f.display(),
            meta.len(),
            crate::providers::MAX_KUBECONFIG
        );
    }
    Ok(Some(std::fs::read_to_string(f).with_context(|| {
        format!("reading --kubeconfig {}", f.display())
    })?))
}

/// `--refresh-interval` in seconds.
fn refresh_interval_of(text: &Option<String>) -> anyhow::Result<Option<i32>> {
    text.as_deref()
        .map(|d| {
            parse_duration(d)
                .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
                .map_err(|e| anyhow::anyhow!("--refresh-interval: {e}"))
        })
        .transpose()
}

fn update(settings: &Settings, a: UpdateArgs) -> anyhow::Result<()> {
    let edit = ProviderEdit {
        name: a.name,
        api_url: a.api_url,
        token: token_of(&a.token, &a.token_file)?,
        kubeconfig: kubeconfig_of(&a.kubeconfig)?,
        context: a.context,
        verify_tls: a.verify_tls,
        ca_cert: ca_cert_of(&a.ca_cert)?,
        allow_insecure_http: a.allow_insecure_http,
        prometheus_url: a.prometheus_url,
        prometheus_auth: a.prometheus_auth,
        prometheus_token: token_of(&None, &a.prometheus_token_file)?,
        prometheus_ca_cert: ca_cert_of(&a.prometheus_ca_cert)?,
        refresh_interval_s: refresh_interval_of(&a.refresh_interval)?,
        get_container_images: None,
        store_unused_images: None,
    };
    let keys = KeyRing::load_existing(&settings.server.key_file)?;
    let db = super::region_db::open_existing(settings)?;
    db.with_conn(|c| Ok(crate::region::ensure_region_key(c, &keys)))??;
    let id = a.id;
    db.with_conn(|c| Ok(update_provider(c, id, edit, &keys, &settings.providers)))??;
    let (provider, zone) = db.with_conn(|c| find_provider(c, id))?;
    let queue = QueueClient::new(db.clone(), false, settings.queue.max_args_bytes);
    block_on(queue_refresh(
        &queue,
        id,
        &zone,
        settings.ems_refresh.timeout,
        None,
    ))??;
    let view = ProviderView::new(&provider, &zone);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!(
            "updated provider {} (id {}); a refresh is queued",
            view.name, view.id
        );
    }
    Ok(())
}

fn add(settings: &Settings, a: AddArgs) -> anyhow::Result<()> {
    let token = token_of(&a.token, &a.token_file)?;
    let ca_cert = ca_cert_of(&a.ca_cert)?;
    let refresh_interval_s = refresh_interval_of(&a.refresh_interval)?;
    let input = ProviderInput {
        name: a.name,
        provider_type: a.provider_type,
        zone: Some(a.zone),
        api_url: a.api_url,
        token,
        kubeconfig: kubeconfig_of(&a.kubeconfig)?,
        context: a.context,
        in_cluster: a.in_cluster.then_some(true),
        verify_tls: Some(!a.insecure_skip_tls_verify),
        ca_cert,
        allow_insecure_http: Some(a.allow_insecure_http),
        prometheus_url: a.prometheus_url,
        prometheus_auth: a.prometheus_auth,
        prometheus_token: token_of(&None, &a.prometheus_token_file)?,
        prometheus_ca_cert: ca_cert_of(&a.prometheus_ca_cert)?,
        refresh_interval_s,
        get_container_images: a.no_images.then_some(false),
        store_unused_images: a.no_unused_images.then_some(false),
    };
    let valid = input.validate(&settings.providers)?;
    let keys = KeyRing::load_existing(&settings.server.key_file)?;
    let db = super::region_db::open_existing(settings)?;
    db.with_conn(|c| Ok(crate::region::ensure_region_key(c, &keys)))??;
    let provider = db.with_conn(|c| Ok(insert_provider(c, &valid, &keys, None)))??;
    let (provider, zone) = db.with_conn(|c| find_provider(c, provider.id))?;
    let queue = QueueClient::new(db.clone(), false, settings.queue.max_args_bytes);
    block_on(queue_refresh(
        &queue,
        provider.id,
        &zone,
        settings.ems_refresh.timeout,
        None,
    ))??;
    let view = ProviderView::new(&provider, &zone);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!(
            "added provider {} (id {}); a refresh is queued",
            view.name, view.id
        );
    }
    Ok(())
}

fn list(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(settings)?;
    let all = db.with_conn(list_providers)?;
    let views: Vec<ProviderView> = all.iter().map(|(p, z)| ProviderView::new(p, z)).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "TYPE",
        "ZONE",
        "STATUS",
        "LAST REFRESH",
        "MESSAGE",
    ]);
    for v in &views {
        table.row(vec![
            v.id.to_string(),
            v.name.clone(),
            v.provider_type.clone(),
            v.zone.clone(),
            v.status.clone(),
            v.last_refresh_on
                .map(|t| crate::json::format_utc(&t))
                .unwrap_or_else(|| "-".into()),
            v.status_message.clone(),
        ]);
    }
    print!("{}", table.render(""));
    Ok(())
}

fn show(settings: &Settings, id: i64, json: bool) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(settings)?;
    let ((provider, zone), counts, refreshes) = db.with_conn(|c| {
        Ok((
            find_provider(c, id)?,
            inventory_counts(c, id)?,
            list_refreshes(c, id, None, 10)?,
        ))
    })?;
    let view = ProviderView::new(&provider, &zone);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "provider": view, "inventory": counts, "refreshes": refreshes,
            }))?
        );
        return Ok(());
    }
    println!(
        "Provider {} (id {}), {} in zone {}",
        view.name, view.id, view.provider_type, view.zone
    );
    println!(
        "  endpoint   {} (TLS verify: {})",
        view.api_url, view.verify_tls
    );
    println!(
        "  auth       {}{}",
        view.auth_kind,
        if view.has_credentials {
            " (stored encrypted)"
        } else {
            ""
        }
    );
    println!("  status     {}: {}", view.status, view.status_message);
    println!("\nInventory");
    let mut t = Table::new(&["COLLECTION", "LIVE"]);
    for (name, n) in &counts {
        t.row(vec![name.to_string(), n.to_string()]);
    }
    print!("{}", t.render("  "));
    println!("\nRecent refreshes");
    let mut t = Table::new(&[
        "STARTED", "KIND", "STATUS", "COLLECT", "PARSE", "SAVE", "TOTAL", "OBJECTS", "+", "~", "-",
        "ERROR",
    ]);
    for r in &refreshes {
        t.row(vec![
            crate::json::format_utc(&r.started_on),
            r.kind.clone(),
            r.status.clone(),
            format!("{:.3}s", r.collect_s),
            format!("{:.3}s", r.parse_s),
            format!("{:.3}s", r.save_s),
            format!("{:.3}s", r.total_s),
            r.objects.to_string(),
            r.added.to_string(),
            r.updated.to_string(),
            r.deleted.to_string(),
            r.error.clone(),
        ]);
    }
    print!("{}", t.render("  "));
    Ok(())
}

fn refresh(settings: &Settings, id: i64) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(settings)?;
    let (_, zone) = db.with_conn(|c| find_provider(c, id))?;
    let queue = QueueClient::new(db.clone(), false, settings.queue.max_args_bytes);
    let outcome = block_on(queue_refresh(
        &queue,
        id,
        &zone,
        settings.ems_refresh.timeout,
        None,
    ))??;
    match outcome {
        crate::queue::PutOutcome::Inserted(m) => println!("refresh queued (message {m})"),
        other => println!(
            "a refresh is already waiting (message {}); this request joined it",
            other.id()
        ),
    }
    Ok(())
}

fn remove(settings: &Settings, id: i64, yes: bool) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(settings)?;
    let (provider, _) = db.with_conn(|c| find_provider(c, id))?;
    if !yes {
        anyhow::bail!(
            "removing provider {} deletes its whole inventory and history; run again with --yes to confirm",
            provider.name
        );
    }
    db.with_conn(|c| delete_provider(c, id))?;
    println!(
        "removed provider {} (id {id}) and its inventory",
        provider.name
    );
    Ok(())
}
