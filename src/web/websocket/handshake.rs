//! What a handshake on the live feed's listener must pass before the upgrade, in the
//! order the web port's `GET /ws` checks it: the caller's credentials (a token, Basic,
//! or the session cookie from the console's own origin) — 401 and no socket without
//! them; the path; the access the route table gives `GET /ws`; the `websocket` role;
//! the caller's rights; the handshake itself (400 naming it). Then the conversation.
//!
//! ```text
//! accept ─ read head (≤ 16 KiB) ─ credentials ─ path ─ access ─ role ─ rights
//!        ─ 101 ──────────────────── all within HANDSHAKE_TIMEOUT (10 s) ────────┘
//!        ─ converse (live::socket) until either side ends it or the node stops
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Method;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response, create_response};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use super::address::LiveFeedAddress;
use super::request::{read_head, write_refusal, write_upgrade};
use crate::live::socket::{Recheck, Rights, converse};
use crate::live::transport::tungstenite::Tungstenite;
use crate::web::authn::{
    CONSOLE_HEADER, Credentials, Presented, check_access, identify, session_token_in,
};
use crate::web::live_access::{recheck_of, rights_of, socket_config};
use crate::web::route_table::{Access, Match, Matcher};
use crate::web::{ApiError, AppState};

/// The one path the listener serves.
pub(super) const WS_PATH: &str = "/ws";

/// How long a client has from its connection to the upgrade (or the refusal).
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection of the listener shares.
pub(super) struct Door {
    pub state: Arc<AppState>,
    pub address: LiveFeedAddress,
    /// tungstenite's buffers and limits (`websocket.read_buffer`, client messages
    /// capped at `MAX_CLIENT_MESSAGE`).
    pub config: WebSocketConfig,
    /// `websocket.write_buffer`: the largest frame written.
    pub frame_size: usize,
}

/// Serves one connection: the handshake, then the conversation, until it ends or
/// `stop` is cancelled.
pub(super) async fn serve(
    mut tcp: TcpStream,
    peer: SocketAddr,
    door: Arc<Door>,
    stop: CancellationToken,
) {
    // Boxed: the handshake's future (authentication, rights) is large and only lives
    // until the upgrade; inline, every idle connection's task would keep its size.
    let handshake = Box::pin(handshake(&mut tcp, peer.ip(), &door));
    let admitted = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Some(admitted)) => admitted,
        Ok(None) => return,
        Err(_) => {
            tracing::debug!(%peer, "websocket handshake timed out");
            return;
        }
    };
    let (rest, rights, recheck) = admitted;
    let socket =
        WebSocketStream::from_partially_read(tcp, rest, Role::Server, Some(door.config)).await;
    converse(
        Tungstenite::new(socket, door.frame_size),
        door.state.hub.clone(),
        rights,
        socket_config(&door.state),
        recheck,
        stop.cancelled_owned(),
    )
    .await;
}

/// Reads the request and answers it: the upgrade (what follows the head, the
/// caller's rights and its recheck), or a refusal written and `None`.
async fn handshake(
    tcp: &mut TcpStream,
    peer: IpAddr,
    door: &Door,
) -> Option<(Vec<u8>, Rights, impl Fn() -> Recheck + use<>)> {
    let (request, rest) = match read_head(tcp).await {
        Ok(read) => read,
        Err(error) => {
            tracing::debug!(%peer, %error, "websocket handshake refused");
            if let Some(answer) = error.answer() {
                let _ = write_refusal(tcp, &answer, false).await;
            }
            return None;
        }
    };
    // Browsers (they name their origin) and the console get no WWW-Authenticate.
    let quiet =
        request.headers().contains_key("Origin") || request.headers().contains_key(CONSOLE_HEADER);
    match admit(&request, peer, door).await {
        Ok((response, rights, recheck)) => {
            write_upgrade(tcp, &response).await.ok()?;
            Some((rest, rights, recheck))
        }
        Err(error) => {
            let _ = write_refusal(tcp, &error, quiet).await;
            None
        }
    }
}

/// Everything a handshake must pass, in order; the 101 to send when it does.
async fn admit(
    request: &Request,
    peer: IpAddr,
    door: &Door,
) -> Result<(Response, Rights, impl Fn() -> Recheck + use<>), ApiError> {
    let headers = request.headers();
    let host = headers.get("Host").and_then(|h| h.to_str().ok());
    let credentials = Credentials::read(
        |name| headers.get(name).map(|v| v.as_bytes()),
        session_token_in(headers.get_all("Cookie").iter().map(|v| v.as_bytes())),
    )?;
    if let Presented::Session(_) = credentials.presented
        && let Some(origin) = headers.get("Origin")
        && !origin
            .to_str()
            .is_ok_and(|o| door.address.is_console_origin(o, host))
    {
        return Err(ApiError::Forbidden(
            "the session cookie is only accepted from the console's own origin".into(),
        ));
    }
    let path = request.uri().path();
    let token = credentials.token();
    let identity = identify(&door.state, credentials, peer, path).await?;
    if path != WS_PATH {
        return Err(ApiError::NotFound(format!(
            "no route for GET {}; this listener serves GET {WS_PATH} only",
            crate::text::truncate(path, 100)
        )));
    }
    let access = route_access().ok_or_else(|| {
        ApiError::NotFound(format!("no route for GET {WS_PATH} in the route table"))
    })?;
    check_access(&identity, access)?;
    door.state.require_role("websocket")?;
    let rights = rights_of(&door.state, &identity).await?;
    let response = create_response(request).map_err(|e| {
        ApiError::BadRequest(format!("GET {WS_PATH} expects a websocket handshake: {e}"))
    })?;
    Ok((
        response,
        rights,
        recheck_of(door.state.clone(), token, identity),
    ))
}

/// The access the route table gives `GET /ws`: one statement of who may listen, for
/// both doors (a table without the route admits nobody).
fn route_access() -> Option<Access> {
    match Matcher::get().find(&Method::GET, WS_PATH) {
        Match::Route(spec) => Some(spec.access),
        Match::OtherMethods(_) | Match::None => None,
    }
}
