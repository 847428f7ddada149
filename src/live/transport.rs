//! What the live feed's conversation ([`super::socket::converse`]) needs of a websocket,
//! whoever frames it: the next message from the client, and text, pings and a close
//! going out. Two transports implement it:
//!
//! - [`tungstenite::Tungstenite`]: the live feed's own listener (`websocket.port`,
//!   `web::websocket`), tokio-tungstenite over a bare TCP stream with small buffers
//!   (`websocket.read_buffer`, `websocket.write_buffer`);
//! - [`actix::Actix`]: `GET /ws` on the web port, actix-ws inside actix-http's
//!   dispatcher, which keeps an 8 KiB read and an 8 KiB write buffer per connection.
//!
//! Event texts are [`Utf8Bytes`]: serialised once by the hub, shared by every client.

pub mod actix;
pub mod tungstenite;

pub use tokio_tungstenite::tungstenite::Utf8Bytes;

use bytes::Bytes;

/// A message from the client, continuations already put together.
#[derive(Debug)]
pub enum Incoming {
    Text(Utf8Bytes),
    Binary,
    Ping(Bytes),
    Pong,
    Close,
}

/// Why the server closes a connection (RFC 6455 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 1001: the server is stopping, or the client stopped answering.
    Away,
    /// 1002: the client broke the protocol.
    Protocol,
    /// 1008: a rule was broken (dropped for falling behind, credentials gone).
    Policy,
}

impl CloseCode {
    /// The code on the wire.
    pub fn number(self) -> u16 {
        match self {
            CloseCode::Away => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::Policy => 1008,
        }
    }
}

/// A close frame's code and text.
#[derive(Debug, Clone)]
pub struct CloseReason {
    pub code: CloseCode,
    pub description: String,
}

/// The connection is gone: nothing more can be sent.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the connection is closed")]
pub struct Closed;

/// A websocket as the conversation sees it. Every method may be cancelled between
/// messages (the conversation selects over the client, the hub and its timers).
pub trait Transport {
    /// The next message from the client; `None` once the connection ended; an error
    /// (described) when the client broke the protocol.
    fn recv(&mut self) -> impl Future<Output = Option<Result<Incoming, String>>>;

    /// Sends a text message.
    fn send_text(&mut self, text: Utf8Bytes) -> impl Future<Output = Result<(), Closed>>;

    /// Sends a ping.
    fn ping(&mut self, payload: &'static [u8]) -> impl Future<Output = Result<(), Closed>>;

    /// Answers a client's ping.
    fn pong(&mut self, payload: Bytes) -> impl Future<Output = Result<(), Closed>>;

    /// Sends a close frame (none: a plain close) and ends the connection.
    fn close(self, reason: Option<CloseReason>) -> impl Future<Output = ()>;
}
