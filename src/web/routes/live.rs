//! `GET /ws`: the live feed's websocket. The caller is authenticated before the
//! upgrade (a token or Basic credentials, like every route); the conversation is
//! `live::socket`'s. What the caller may receive (topics by feature, provider events by
//! the providers it may see) is worked out here and again every `websocket.recheck_interval`.

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;

use super::inventory::visibility;
use crate::api_query::{collection, exec, params, sql};
use crate::auth::Identity;
use crate::live::hub::{Audience, Visible};
use crate::live::socket::{MAX_CLIENT_MESSAGE, Rights, SocketConfig, converse};
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
    let settings = &state.settings.websocket;
    let config = SocketConfig {
        ping_interval: settings.ping_interval,
        recheck_interval: settings.recheck_interval,
        client_buffer: settings.client_buffer,
    };
    // Checked again every `websocket.recheck_interval`: a revoked token or a removed
    // user ends the connection.
    let token: Option<SecretString> = req
        .headers()
        .get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().to_string())
        .or_else(|| crate::web::authn::session_token(&req))
        .map(SecretString::from);
    let identity = caller.0;
    let recheck_state = state.clone();
    let recheck = move || {
        let (state, token, identity) = (recheck_state.clone(), token.clone(), identity.clone());
        Box::pin(async move {
            let now = crate::web::authn::recheck(&state, token.as_ref(), &identity)
                .await
                .map_err(|e| e.to_string())?;
            rights_of(&state, &now).await.map_err(|e| e.to_string())
        }) as futures::future::LocalBoxFuture<'static, _>
    };
    actix_web::rt::spawn(converse(
        session,
        stream,
        state.hub.clone(),
        rights,
        config,
        recheck,
    ));
    Ok(response)
}

/// The caller's features, the providers it may see — by the same SQL that limits its
/// lists (tenant, provider and tag filters) — and the restriction its inventory
/// objects are read with.
async fn rights_of(state: &AppState, identity: &Identity) -> Result<Rights, ApiError> {
    let v = visibility(identity);
    let visible = if v.is_unrestricted() {
        Visible::All
    } else {
        let c = collection("providers")
            .ok_or_else(|| ApiError::Internal("no providers collection".into()))?;
        let (mut query, _) = params::parse("", c, 1000).map_err(|e| ApiError::BadRequest(e.0))?;
        query.attributes = Some(Vec::new());
        query.limit = 100_000;
        let built =
            sql::build(state.db.backend(), c, &query, &v).map_err(|e| ApiError::BadRequest(e.0))?;
        let page = state
            .db
            .run(move |conn| exec::run(conn, &built, None))
            .await?;
        let ids: HashSet<i64> = page
            .rows
            .iter()
            .filter_map(|r| match &r["id"] {
                serde_json::Value::String(s) => s.parse().ok(),
                other => other.as_i64(),
            })
            .collect();
        Visible::Providers(ids)
    };
    // Inventory objects: by the same restriction, applied per batch of changes
    // (`live::inventory`).
    let audience = if v.is_unrestricted() {
        Audience::All
    } else {
        Audience::Restricted(std::sync::Arc::new(v))
    };
    Ok(Rights {
        features: identity.features.clone(),
        visible,
        audience,
    })
}
