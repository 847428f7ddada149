//! The live feed's own listener (`websocket.port`): `GET /ws` served off actix-web, so
//! that an idle client costs a few KiB rather than actix-http's 16 KiB of buffers per
//! connection. The conversation is the same as on the web port (`live::socket`); only
//! the door differs:
//!
//! - [`address`]: the URL clients are given (`GET /api`, the console's CSP) and the
//!   console origin a session cookie's handshake must come from;
//! - [`request`]: the handshake's request head, read bounded in size and time with
//!   tungstenite's parser, and the answers written back;
//! - [`handshake`]: what a handshake must pass before the upgrade — the same
//!   authentication as every route, the route table's access for `GET /ws`, the role,
//!   the handshake itself — then the conversation;
//! - [`listener`]: the bound socket as a supervised component, spreading connections
//!   over worker threads and closing them when the node stops.

mod address;
mod handshake;
mod listener;
mod request;

pub use address::LiveFeedAddress;
pub use listener::{WEBSOCKET_LISTENER, WebsocketListener};
