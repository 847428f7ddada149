//! The HTTP surface: `/ping`, the REST API under `/api`, the console, and the live
//! feed's websocket — on the web port, and on a listener of its own
//! ([`websocket`], `websocket.port`). Built like zero2prod's `Application`: bind first
//! (port 0 works), learn the port, then run until stopped.

mod authn;
mod body_doc;
mod error;
mod input;
mod live_access;
pub mod request_counts;
mod request_log;
pub mod route_table;
mod routes;
mod state;
mod throttle;
mod token_cache;
mod websocket;

pub use authn::Caller;
pub use error::ApiError;
pub use input::Checked;
pub use request_counts::RequestCounts;
pub use route_table::{Access, RouteSpec, route_table};
pub use state::AppState;
pub use throttle::LoginThrottle;
pub use token_cache::TokenCache;
pub use websocket::{LiveFeedAddress, WEBSOCKET_LISTENER, WebsocketListener};

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
    /// Binds the listening socket — the first thing a node does, so that a port in
    /// use stops the start with one line before anything is registered.
    pub fn bind(bind: std::net::IpAddr, port: u16) -> Result<std::net::TcpListener, NodeError> {
        bind_listener("web server", bind, port)
    }

    /// Builds the server on a bound `listener`. Signals are left to the node, which
    /// stops the server itself.
    pub fn build(
        listener: std::net::TcpListener,
        shutdown_timeout_s: u64,
        state: AppState,
    ) -> Result<Self, NodeError> {
        let addr = listener.local_addr().map_err(|source| NodeError::Listen {
            what: "web server",
            addr: "the bound socket".into(),
            source,
        })?;
        // Settings guarantee the largest message args fit in it.
        let body_limit = state.settings.web.max_body;
        let send_buffer = state.settings.web.send_buffer;
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(error::json_error),
                )
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .wrap(actix_web::middleware::from_fn(authn::authenticate))
                .wrap(actix_web::middleware::from_fn(request_log::log_request))
                .configure(routes::configure)
        })
        .on_connect(move |conn, _| {
            if send_buffer > 0
                && let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
            {
                set_send_buffer(tcp, send_buffer);
            }
        })
        .disable_signals()
        .shutdown_timeout(shutdown_timeout_s)
        .workers(2)
        .listen(listener)
        .map_err(|source| NodeError::Listen {
            what: "web server",
            addr: addr.to_string(),
            source,
        })?;
        Ok(Self {
            addr,
            server: server.run(),
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts serving in the background: the handle stops it, the receiver resolves
    /// if it ends by itself (which, for a node, is fatal).
    pub fn spawn(self) -> (ServerHandle, tokio::sync::oneshot::Receiver<String>) {
        let handle = self.server.handle();
        let (ended_tx, ended) = tokio::sync::oneshot::channel();
        actix_rt::spawn(async move {
            let why = match self.server.await {
                Ok(()) => "the web server stopped".to_string(),
                Err(error) => format!("the web server failed: {error}"),
            };
            let _ = ended_tx.send(why);
        });
        (handle, ended)
    }
}

/// Binds a listening socket for `what` (named in the one line a port in use stops the
/// start with).
pub(crate) fn bind_listener(
    what: &'static str,
    bind: std::net::IpAddr,
    port: u16,
) -> Result<std::net::TcpListener, NodeError> {
    std::net::TcpListener::bind((bind, port)).map_err(|source| NodeError::Listen {
        what,
        addr: format!("{bind}:{port}"),
        source,
    })
}

/// Sets the kernel send buffer of an accepted connection (`web.send_buffer`); a refusal
/// is logged and the kernel's default kept.
pub(crate) fn set_send_buffer(tcp: &actix_web::rt::net::TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is the open socket `tcp` owns for the duration of the
    // call, and the option value is a c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot set the send buffer");
    }
}
