//! `GET /ws`: the live feed's websocket. The caller is authenticated before the
//! upgrade (a token or Basic credentials, like every route); the conversation is
//! `live::socket`'s.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;

use crate::live::socket::{MAX_CLIENT_MESSAGE, SocketConfig, converse};
use crate::web::{ApiError, AppState, Caller};

pub(super) async fn connect(
    req: HttpRequest,
    body: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("GET /ws expects a websocket handshake: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_CLIENT_MESSAGE);
    let settings = &state.settings.websocket;
    let config = SocketConfig {
        ping_interval: settings.ping_interval,
        client_buffer: settings.client_buffer,
    };
    // Checked again every ping: a revoked token or a removed user ends the connection.
    let token: Option<SecretString> = req
        .headers()
        .get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .map(|t| SecretString::from(t.trim().to_string()));
    let identity = caller.0;
    let features = identity.features.clone();
    let recheck_state = state.clone();
    let recheck = move || {
        let (state, token, identity) = (recheck_state.clone(), token.clone(), identity.clone());
        Box::pin(async move {
            crate::web::authn::recheck(&state, token.as_ref(), &identity)
                .await
                .map(|now| now.features)
                .map_err(|e| e.to_string())
        }) as futures::future::LocalBoxFuture<'static, _>
    };
    actix_web::rt::spawn(converse(
        session,
        stream,
        state.hub.clone(),
        features,
        config,
        recheck,
    ));
    Ok(response)
}
