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
    install_panic_hook();
}

/// Panics (a handler's, caught by its worker's supervisor) are logged through
/// tracing, so they land in the same stream and format as everything else.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = crate::workers::panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            panic = %message,
            %location,
            thread = thread.name().unwrap_or("unnamed"),
            "panic"
        );
    }));
}
