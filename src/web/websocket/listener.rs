//! `WebsocketListener`: the live feed's own socket as a supervised component. The
//! node binds it at start, beside the web port (a port in use stops the start with one
//! line); each incarnation accepts on it and hands every connection to one of
//! [`WORKERS`] worker threads (actix arbiters, as the web server has two workers), where
//! its handshake and conversation run. Stopping cancels every conversation — each
//! client is told with a close (1001, "the server is stopping") — and waits a moment
//! for them to end (each holds a clone of a `done` sender: drop ours, await the
//! channel's end), then stops the workers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_rt::Arbiter;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::address::LiveFeedAddress;
use super::handshake::{Door, serve};
use crate::live::socket::MAX_CLIENT_MESSAGE;
use crate::node::NodeError;
use crate::supervision::{Component, ComponentContext, ComponentFuture};
use crate::web::AppState;

/// The component's name (`steward status`, the stop sequence).
pub const WEBSOCKET_LISTENER: &str = "websocket_listener";

/// Worker threads the conversations run on.
const WORKERS: usize = 2;

/// How long stopping waits for conversations to close.
const CLOSE_DEADLINE: Duration = Duration::from_secs(3);

/// Pause after a failed accept (out of descriptors): the error is not the client's.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The live feed's listener.
#[derive(Clone)]
pub struct WebsocketListener {
    listener: Arc<std::net::TcpListener>,
    door: Arc<Door>,
    /// `web.send_buffer` (0: the kernel's).
    send_buffer: usize,
}

impl WebsocketListener {
    /// Binds the listener's socket, like the web port's, first thing at start.
    pub fn bind(bind: std::net::IpAddr, port: u16) -> Result<std::net::TcpListener, NodeError> {
        crate::web::bind_listener("live feed (websocket.port)", bind, port)
    }

    /// The listener on a bound socket; `address` says how clients reach it.
    pub fn new(listener: std::net::TcpListener, state: AppState, address: LiveFeedAddress) -> Self {
        let ws = &state.settings.websocket;
        let config = WebSocketConfig::default()
            .read_buffer_size(ws.read_buffer)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_CLIENT_MESSAGE))
            .max_frame_size(Some(MAX_CLIENT_MESSAGE));
        let door = Door {
            config,
            frame_size: ws.write_buffer,
            address,
            state: Arc::new(state.clone()),
        };
        Self {
            listener: Arc::new(listener),
            door: Arc::new(door),
            send_buffer: state.settings.web.send_buffer,
        }
    }
}

impl Component for WebsocketListener {
    fn name(&self) -> &'static str {
        WEBSOCKET_LISTENER
    }

    fn run(&self, ctx: ComponentContext) -> ComponentFuture {
        Box::pin(run(self.clone(), ctx))
    }
}

/// The worker threads of one incarnation, stopped when it ends however it ends.
struct Workers(Vec<Arbiter>);

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &self.0 {
            worker.stop();
        }
    }
}

async fn run(this: WebsocketListener, ctx: ComponentContext) -> Result<(), String> {
    let socket = this
        .listener
        .try_clone()
        .and_then(|l| {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        })
        .map_err(|e| format!("cannot listen on the live feed's socket: {e}"))?;
    let workers = (0..WORKERS)
        .map(|_| Arbiter::try_new())
        .collect::<Result<Vec<_>, _>>()
        .map(Workers)
        .map_err(|e| format!("cannot start the live feed's worker threads: {e}"))?;
    let stop = CancellationToken::new();
    let _cancel_on_drop = stop.clone().drop_guard();
    let (done, mut all_done) = mpsc::channel::<()>(1);
    let mut next = 0usize;
    loop {
        let accepted = tokio::select! {
            () = ctx.stopped() => break,
            accepted = socket.accept() => accepted,
        };
        ctx.progress();
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "the live feed's listener cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let worker = &workers.0[next % WORKERS];
        next = next.wrapping_add(1);
        if let Err(error) = hand_over(&this, worker, tcp, peer, &stop, &done) {
            tracing::warn!(%error, %peer, "cannot hand a live feed connection to a worker");
            if !worker.alive() {
                return Err("a worker thread of the live feed stopped".into());
            }
        }
    }
    stop.cancel();
    drop(done);
    if tokio::time::timeout(CLOSE_DEADLINE, all_done.recv())
        .await
        .is_err()
    {
        tracing::warn!("live feed connections still open after the stop deadline; cutting them");
    }
    drop(workers);
    Ok(())
}

/// Moves an accepted connection to `worker`, where it is served.
fn hand_over(
    this: &WebsocketListener,
    worker: &Arbiter,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    stop: &CancellationToken,
    done: &mpsc::Sender<()>,
) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    if this.send_buffer > 0 {
        crate::web::set_send_buffer(&tcp, this.send_buffer);
    }
    // Off this thread's reactor, onto the worker's.
    let tcp = tcp.into_std()?;
    let (door, stop, done) = (this.door.clone(), stop.clone(), done.clone());
    let handed = worker.spawn_fn(move || {
        actix_rt::spawn(async move {
            let _done = done;
            match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => serve(tcp, peer, door, stop).await,
                Err(error) => tracing::warn!(%error, %peer, "cannot serve a live feed connection"),
            }
        });
    });
    if handed {
        Ok(())
    } else {
        Err(std::io::Error::other("the worker thread has stopped"))
    }
}
