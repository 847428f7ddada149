//! The live feed's own listener: a tokio-tungstenite stream as a [`Transport`].
//!
//! Memory per connection is what this transport is for. tungstenite keeps a read
//! buffer of `websocket.read_buffer` bytes, allocated up front, and a write buffer that
//! keeps the capacity of the largest frame it ever held; so a text longer than
//! `websocket.write_buffer` goes out as a text frame and continuation frames of at most
//! that size (RFC 6455 fragmentation; clients put them together), each flushed before
//! the next: the write buffer never holds more than one of them.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::{CloseReason, Closed, Incoming, Transport, Utf8Bytes};

/// How long a closing server waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// An upgraded connection of the live feed's listener.
pub struct Tungstenite<S> {
    socket: WebSocketStream<S>,
    /// Largest frame sent; longer texts are fragmented.
    frame_size: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Tungstenite<S> {
    /// Wraps an upgraded stream; texts go out in frames of at most `frame_size` bytes.
    pub fn new(socket: WebSocketStream<S>, frame_size: usize) -> Self {
        Self {
            socket,
            frame_size: frame_size.max(1),
        }
    }

    async fn send(&mut self, message: Message) -> Result<(), Closed> {
        self.socket.send(message).await.map_err(|_| Closed)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for Tungstenite<S> {
    async fn recv(&mut self) -> Option<Result<Incoming, String>> {
        loop {
            let message = match self.socket.next().await? {
                Ok(message) => message,
                Err(error) => return Some(Err(error.to_string())),
            };
            return Some(Ok(match message {
                Message::Text(text) => Incoming::Text(text),
                Message::Binary(_) => Incoming::Binary,
                Message::Ping(bytes) => Incoming::Ping(bytes),
                Message::Pong(_) => Incoming::Pong,
                Message::Close(_) => Incoming::Close,
                // Never read (tungstenite puts frames together); skip it if it were.
                Message::Frame(_) => continue,
            }));
        }
    }

    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), Closed> {
        if text.len() <= self.frame_size {
            return self.send(Message::Text(text)).await;
        }
        let mut rest = Bytes::from(text);
        let mut opcode = OpCode::Data(Data::Text);
        while !rest.is_empty() {
            let piece = rest.split_to(rest.len().min(self.frame_size));
            let frame = Frame::message(piece, opcode, rest.is_empty());
            self.send(Message::Frame(frame)).await?;
            opcode = OpCode::Data(Data::Continue);
        }
        Ok(())
    }

    async fn ping(&mut self, payload: &'static [u8]) -> Result<(), Closed> {
        self.send(Message::Ping(Bytes::from_static(payload))).await
    }

    async fn pong(&mut self, _payload: Bytes) -> Result<(), Closed> {
        // tungstenite queued the pong when it read the ping; send it now.
        self.socket.flush().await.map_err(|_| Closed)
    }

    async fn close(mut self, reason: Option<CloseReason>) {
        let frame = reason.map(|r| CloseFrame {
            code: r.code.number().into(),
            reason: r.description.into(),
        });
        if self.socket.close(frame).await.is_err() {
            return;
        }
        // The closing handshake: read until the client's close (or its end), so that
        // what was sent is not cut short by a reset.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }
}
