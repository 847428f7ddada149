//! `GET /ws` on the web port: the live feed's websocket through actix-web. The caller
//! is authenticated before the upgrade (a token, Basic credentials or the session
//! cookie, like every route); the conversation is `live::socket`'s, the same as on the
//! live feed's own listener (`web::websocket`, `websocket.port`), which the console
//! uses and which costs less per client. What the caller may receive is worked out by
//! `web::live_access`, and again every `websocket.recheck_interval`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::live::socket::{MAX_CLIENT_MESSAGE, converse};
use crate::live::transport::actix::Actix;
use crate::web::authn::Credentials;
use crate::web::live_access::{recheck_of, rights_of, socket_config};
use crate::web::{ApiError, AppState, Caller};

pub(super) async fn connect(
    req: HttpRequest,
    body: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.require_role("websocket")?;
    let rights = rights_of(&state, &caller.0).await?;
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("GET /ws expects a websocket handshake: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_CLIENT_MESSAGE);
    // Checked again every `websocket.recheck_interval`: a revoked token or a removed
    // user ends the connection.
    let token = Credentials::read(
        |name| req.headers().get(name).map(|v| v.as_bytes()),
        crate::web::authn::session_token(&req),
    )?
    .token();
    let recheck = recheck_of(state.clone().into_inner(), token, caller.0);
    actix_web::rt::spawn(converse(
        Actix { session, stream },
        state.hub.clone(),
        rights,
        socket_config(&state),
        recheck,
        std::future::pending(),
    ));
    Ok(response)
}
