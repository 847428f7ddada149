//! `GET /ws` on the web port: actix-ws's session and message stream as a
//! [`Transport`]. Kept for clients that reach the live feed through the web port; the
//! console and the benchmark use the live feed's own listener, which costs less per
//! client (see `web::websocket`).

use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session};
use bytes::Bytes;

use super::{CloseReason, Closed, Incoming, Transport, Utf8Bytes};

/// An upgraded actix-web request.
pub struct Actix {
    pub session: Session,
    pub stream: AggregatedMessageStream,
}

impl Transport for Actix {
    async fn recv(&mut self) -> Option<Result<Incoming, String>> {
        let message = match self.stream.recv().await? {
            Ok(message) => message,
            Err(error) => return Some(Err(error.to_string())),
        };
        Some(Ok(match message {
            AggregatedMessage::Text(text) => Incoming::Text(Utf8Bytes::from(text.to_string())),
            AggregatedMessage::Binary(_) => Incoming::Binary,
            AggregatedMessage::Ping(bytes) => Incoming::Ping(bytes),
            AggregatedMessage::Pong(_) => Incoming::Pong,
            AggregatedMessage::Close(_) => Incoming::Close,
        }))
    }

    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), Closed> {
        // actix-ws takes its own string type: one copy per client on this path.
        self.session
            .text(text.as_str().to_owned())
            .await
            .map_err(|_| Closed)
    }

    async fn ping(&mut self, payload: &'static [u8]) -> Result<(), Closed> {
        self.session.ping(payload).await.map_err(|_| Closed)
    }

    async fn pong(&mut self, payload: Bytes) -> Result<(), Closed> {
        self.session.pong(&payload).await.map_err(|_| Closed)
    }

    async fn close(self, reason: Option<CloseReason>) {
        let reason = reason.map(|r| actix_ws::CloseReason {
            code: actix_ws::CloseCode::from(r.code.number()),
            description: Some(r.description),
        });
        let _ = self.session.close(reason).await;
    }
}
