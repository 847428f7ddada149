//! Logging through tracing: human text by default, JSON lines with `log.format: json`.
//! Logs go to stderr so that command output on stdout stays machine-readable.

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`.
/// Chatty dependencies are kept at `warn` unless `RUST_LOG` says otherwise.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},actix_server=warn,actix_web=warn,r2d2=warn,h2=warn,hyper=warn,rustls=warn,reqwest=warn",
            level = log.level
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    // A second init (tests, re-entry) keeps the first subscriber.
    let _ = result;
}
