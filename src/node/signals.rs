//! SIGINT and SIGTERM as one awaitable "stop" request.

use tokio::signal::unix::{SignalKind, signal};

/// Waits for SIGINT or SIGTERM. Installed before anything slow happens, so a signal
/// during start-up (e.g. while the database is unreachable) is not lost.
pub struct StopSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves at the next SIGINT or SIGTERM, with its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
