//! A handshake's request head, read from a fresh connection with tungstenite's parser
//! (httparse) — at most [`MAX_HEAD`] bytes — and the answers written back.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::machine::TryParse;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response, write_response};
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::{
    Error as WsError, error::CapacityError, error::ProtocolError,
};

use crate::web::ApiError;

/// Largest request head accepted (request line and headers: a token, a cookie…).
pub(super) const MAX_HEAD: usize = 16 * 1024;

/// How long a refused client's remaining bytes are read before the close.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// At most this much of them.
const LINGER_BYTES: usize = 64 * 1024;

/// Why no request could be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum HeadError {
    #[error("the request head exceeds {MAX_HEAD} bytes")]
    TooLarge,
    #[error("the listener only takes GET /ws websocket handshakes")]
    NotGet,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("the client closed the connection")]
    Closed,
    #[error("cannot read the request: {0}")]
    Io(#[from] std::io::Error),
}

impl HeadError {
    /// The answer to send, if the client is still there to read one.
    pub(super) fn answer(&self) -> Option<ApiError> {
        let message = self.to_string();
        match self {
            HeadError::TooLarge => Some(ApiError::HeaderTooLarge(message)),
            HeadError::NotGet => Some(ApiError::MethodNotAllowed {
                message,
                allow: "GET".into(),
            }),
            HeadError::Malformed(_) => Some(ApiError::BadRequest(message)),
            HeadError::Closed | HeadError::Io(_) => None,
        }
    }
}

/// Reads until a complete request head; answers it and the bytes read after it.
pub(super) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let room = (MAX_HEAD - buf.len()) as u64;
        if room == 0 {
            return Err(HeadError::TooLarge);
        }
        let read = (&mut *stream).take(room).read_buf(&mut buf).await?;
        if read == 0 {
            return Err(HeadError::Closed);
        }
        match Request::try_parse(&buf) {
            Ok(Some((size, request))) => return Ok((request, buf.split_off(size))),
            Ok(None) => {}
            Err(WsError::Protocol(ProtocolError::WrongHttpMethod)) => {
                return Err(HeadError::NotGet);
            }
            Err(WsError::Capacity(CapacityError::TooManyHeaders)) => {
                return Err(HeadError::TooLarge);
            }
            Err(error) => return Err(HeadError::Malformed(error.to_string())),
        }
    }
}

/// Writes the switch to the websocket protocol.
pub(super) async fn write_upgrade<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(256);
    write_response(&mut head, response).map_err(std::io::Error::other)?;
    stream.write_all(&head).await?;
    stream.flush().await
}

/// Writes a refusal: the error's status, JSON body and headers (without
/// `WWW-Authenticate` when `quiet`), then closes the connection.
pub(super) async fn write_refusal<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    error: &ApiError,
    quiet: bool,
) -> std::io::Result<()> {
    let status = actix_web::ResponseError::status_code(error).as_u16();
    let (body, headers) = error.answer();
    let body = body.to_string();
    let mut response = http::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("Content-Length", body.len())
        .header("Connection", "close");
    for (name, value) in headers {
        if quiet && name == "WWW-Authenticate" {
            continue;
        }
        response = response.header(name, value);
    }
    let response = response.body(()).map_err(std::io::Error::other)?;
    let mut bytes = Vec::with_capacity(256 + body.len());
    write_response(&mut bytes, &response).map_err(std::io::Error::other)?;
    bytes.extend_from_slice(body.as_bytes());
    stream.write_all(&bytes).await?;
    stream.shutdown().await?;
    linger(stream).await;
    Ok(())
}

/// Reads (and drops) what the client still sends, for a moment, before the
/// connection is closed: closing with unread bytes would reset it, and the client
/// could lose the answer.
async fn linger<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut sink = [0u8; 1024];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER, async {
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}
