//! The HTTP surface: `/ping`, and the REST API under `/api` (grown by later issues).
//! Built like zero2prod's `Application`: bind first (port 0 works), learn the port,
//! then run until stopped.

mod error;
mod request_log;
mod routes;
mod state;

pub use error::ApiError;
pub use state::AppState;

use std::net::SocketAddr;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};

use crate::node::NodeError;

/// A bound, not yet running web server.
pub struct Application {
    addr: SocketAddr,
    server: Server,
}

impl Application {
    /// Binds the listener. Signals are left to the node, which stops the server itself.
    pub fn build(
        bind: std::net::IpAddr,
        port: u16,
        shutdown_timeout_s: u64,
        state: AppState,
    ) -> Result<Self, NodeError> {
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().error_handler(error::json_error))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .wrap(actix_web::middleware::from_fn(request_log::log_request))
                .configure(routes::configure)
        })
        .disable_signals()
        .shutdown_timeout(shutdown_timeout_s)
        .workers(2)
        .bind((bind, port))
        .map_err(|source| NodeError::Listen {
            addr: format!("{bind}:{port}"),
            source,
        })?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::new(bind, port));
        Ok(Self {
            addr,
            server: server.run(),
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts serving in the background; the handle stops it.
    pub fn spawn(self) -> ServerHandle {
        let handle = self.server.handle();
        actix_rt::spawn(async move {
            if let Err(error) = self.server.await {
                tracing::error!(%error, "web server failed");
            }
        });
        handle
    }
}
