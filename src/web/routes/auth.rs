//! `GET /api/auth`: a token for the caller (`{auth_token, token_ttl, expires_on}`),
//! sent back as `X-Auth-Token`; `DELETE /api/auth` revokes the token used.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::auth::audit::AuditEntry;
use crate::auth::tokens;
use crate::web::{ApiError, AppState, Caller};

pub(super) async fn login(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Caller(identity) = caller;
    let ttl = state.settings.api.token_ttl;
    let (user_id, group_id) = (identity.user_id, identity.group_id);
    let issued = state
        .db
        .run(move |conn| tokens::issue(conn, user_id, group_id, ttl))
        .await?;
    super::super::authn::audit(
        &state,
        AuditEntry {
            userid: identity.userid.clone(),
            action: "login".into(),
            target: req.path().to_string(),
            outcome: "success",
            status: 200,
            source: peer(&req),
            message: format!("token issued for group `{}`", identity.group),
        },
    )
    .await;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "auth_token": issued.token.expose_secret(),
            "token_ttl": issued.ttl_seconds,
            "expires_on": crate::json::format_utc(&issued.expires_on),
        })))
}

pub(super) async fn logout(
    req: HttpRequest,
    _caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = req
        .headers()
        .get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().to_string())
    else {
        return Err(ApiError::BadRequest(
            "no X-Auth-Token to revoke: this request was authenticated by password".into(),
        ));
    };
    state
        .token_cache
        .evict(&crate::auth::secret::token_hash(&token));
    state
        .db
        .run(move |conn| tokens::revoke(conn, &token))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn peer(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}
